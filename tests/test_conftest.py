"""The suite's own rule: every test that trains a model is marked slow (tests/conftest.py)."""

from __future__ import annotations

from tests.conftest import trains


def test_a_function_that_trains_is_recognised():
    def trains_a_model(clients, sessions, config):
        return run_training(clients, sessions, config)  # noqa: F821

    def scores_only(frame):
        return frame.sum()

    assert trains(trains_a_model)
    assert not trains(scores_only)
    assert not trains(len)  # no Python source: not counted


def test_the_shared_trained_fixture_counts_as_training():
    # every test using it (directly or through another fixture) is therefore marked slow
    from tests.conftest import trained

    assert trains(getattr(trained, "__wrapped__", trained))
