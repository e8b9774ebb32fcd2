"""IPCW: open episodes are censored, and no weight depends on how an episode ended."""

from __future__ import annotations

import numpy as np
import pytest

from models.censoring import (
    MIN_SURVIVAL,
    censoring_weights,
    follow_up_survival,
    horizon_outcome,
    observed_until,
)


def test_follow_up_survival_is_the_share_followed_at_least_that_long():
    follow = np.array([10.0, 20.0, 30.0, 40.0])
    np.testing.assert_allclose(
        follow_up_survival(follow, np.array([0, 10, 11, 40, 41])), [1, 1, 0.75, 0.25, 0]
    )


def test_an_ended_example_weighs_one_over_the_share_followed_that_long():
    event = np.array([5.0, 25.0, np.nan, 35.0])
    follow = np.array([10.0, 30.0, 20.0, 40.0])
    w = censoring_weights(event, follow)
    # 5 days: all four were followed 5 days; 25: two of four; 35: one; open: censored (0)
    np.testing.assert_allclose(w, [1.0, 2.0, 0.0, 4.0])


def test_the_horizon_target_is_observed_once_the_horizon_has_passed():
    event = np.array([np.nan, np.nan, 100.0, 30.0])
    follow = np.array([70.0, 50.0, 120.0, 40.0])
    need = observed_until(event, 60)
    np.testing.assert_allclose(need, [60, 60, 60, 30])
    w = censoring_weights(event, follow, horizon_days=60)
    assert w[0] > 0  # open, but followed past the horizon: known not to drop out in time
    assert w[1] == 0  # open and followed less than the horizon: unknown
    assert w[2] > 0 and w[3] > 0
    y = horizon_outcome(np.array([np.nan, np.nan, 1.0, 1.0]), event, 60)
    assert y.tolist() == [0, 0, 0, 1]


def test_weights_are_capped_where_few_examples_were_followed_that_long():
    follow = np.r_[np.full(99, 1.0), 500.0]
    w = censoring_weights(np.r_[np.full(99, np.nan), 400.0], follow)
    assert w[-1] == pytest.approx(1 / MIN_SURVIVAL)


def test_weights_do_not_depend_on_the_outcome_and_average_one():
    """IPCW's promise: in expectation every example weighs 1, dropout or not."""
    rng = np.random.default_rng(0)
    n = 200_000
    dropout = rng.random(n) < 0.3
    # dropouts end sooner: an outcome-dependent end time, as in real caseloads
    end = np.where(dropout, rng.exponential(20, n), rng.exponential(60, n))
    # administrative: the export date, independent of all, long enough to see almost every end
    follow = rng.uniform(0, 400, n)
    event = np.where(end <= follow, end, np.nan)
    w = censoring_weights(event, follow)
    for group in (dropout, ~dropout):
        assert w[group].mean() == pytest.approx(1.0, abs=0.03)
    # the weighted dropout share recovers the true one; dropping the open ones does not
    ended = ~np.isnan(event)
    naive = dropout[ended].mean()
    weighted = np.average(dropout, weights=w)
    assert abs(weighted - 0.3) < 0.01 < abs(naive - 0.3)
