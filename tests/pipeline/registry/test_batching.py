"""Requests scored together get exactly the answers they get alone."""

from __future__ import annotations

import copy
import threading
import time

import pandas as pd
import pytest

from configs.errors import InputError
from pipeline.registry import batching
from pipeline.registry.batching import RequestBatcher, score_requests
from pipeline.registry.serving import request_frame, score_request

AS_OF = "2026-06-30"


def _raw(trained) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open episodes' rows exactly as the files hold them (text, blank cells missing)."""
    clients = pd.read_csv(trained["clients"], dtype=str, keep_default_na=False)
    sessions = pd.read_csv(trained["sessions"], dtype=str, keep_default_na=False)
    clients, sessions = clients.replace("", None), sessions.replace("", None)
    seen = clients["client_id"].isin(sessions["client_id"])
    active = clients[clients["discharge_reason"].isna() & seen].head(14)
    ended = clients[clients["discharge_reason"].notna() & seen].head(1)
    return pd.concat([active, ended]), sessions


def _request(clients: pd.DataFrame, sessions: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    chosen = clients[clients["client_id"].isin(ids)]
    return request_frame(chosen, sessions[sessions["client_id"].isin(ids)])


def _spy(monkeypatch) -> list[int]:
    """The clients rows of each stacked pass's validation."""
    passes: list[int] = []
    validate = batching.validate_request
    monkeypatch.setattr(
        batching, "validate_request", lambda *a: passes.append(len(a[1])) or validate(*a)
    )
    return passes


def _requests(trained) -> list[tuple[pd.DataFrame, str | None]]:
    clients, sessions = _raw(trained)
    ids = clients["client_id"].tolist()
    rejected = clients.copy()
    rejected.loc[rejected["client_id"] == ids[6], "age"] = "240"
    late = sessions.copy()
    late.loc[late["client_id"] == ids[8], "wai_bond"] = "9"  # out of range: that row is dropped
    doubled = pd.concat([clients[clients["client_id"] == ids[11]]] * 2)
    newcomer = pd.DataFrame(
        {"client_id": ["new-1"], "therapist_id": ["T1"], "intake_date": ["2026-06-29"]}
    )
    no_sessions = pd.DataFrame(columns=["client_id", "session_date", "status"])
    return [
        (_request(clients, sessions, ids[0:1]), AS_OF),
        (_request(clients, sessions, ids[1:2]), AS_OF),
        (_request(clients, sessions, ids[2:5]), AS_OF),
        # without as_of each request is scored as of its own latest appointment
        (_request(clients, sessions, ids[5:6]), None),
        (_request(rejected, sessions, ids[6:8]), None),
        (_request(clients, late, ids[8:9]), AS_OF),
        # an id another request holds too is scored alone
        (_request(clients, sessions, ids[0:1] + ids[9:10]), AS_OF),
        (request_frame(doubled, sessions[sessions["client_id"] == ids[11]]), AS_OF),
        (request_frame(newcomer, no_sessions), AS_OF),
        (pd.DataFrame({"client_id": ["secret"], "wai_bond": [4.5]}), AS_OF),  # no table column
        (_request(clients, sessions, ids[12:13]), "2026-02-30"),  # not a date
        # a discharged client and an open one
        (_request(clients, sessions, [ids[13], ids[-1]]), AS_OF),
        (_request(clients, sessions, ids[10:11]), AS_OF),
    ]


def _assert_same(together: list, requests, model, label: str = "dropout-risk v9") -> None:
    assert len(together) == len(requests)
    for got, (frame, as_of) in zip(together, requests, strict=True):
        try:
            alone = score_request(model, label, frame, as_of=as_of)
        except Exception as exc:  # noqa: BLE001 - the same error is expected
            assert type(got) is type(exc) and str(got) == str(exc)
            continue
        assert isinstance(got, pd.DataFrame), got
        pd.testing.assert_frame_equal(got, alone)


def test_requests_scored_together_get_the_answers_they_get_alone(trained, monkeypatch):
    model = trained["outcome"].result.model
    requests = _requests(trained)
    passes = _spy(monkeypatch)
    together = score_requests(model, "dropout-risk v9", requests)
    # the stackable requests were validated in one pass per as_of parameter: the six with
    # 2026-06-30 (9 clients rows) and the two without (3 rows); the others alone
    assert sorted(passes) == [3, 9]
    errors = [o for o in together if isinstance(o, Exception)]
    assert [type(e) for e in errors] == [InputError, InputError]
    assert all("secret" not in str(e) for e in errors)
    _assert_same(together, requests, model)
    answers = [o for o in together if isinstance(o, pd.DataFrame)]
    assert {len(a) for a in answers} >= {1, 2, 3}
    assert all(a["rank"].tolist() == list(range(1, len(a) + 1)) for a in answers)


def test_a_request_to_be_scored_alone_takes_no_other_into_its_pass(trained, monkeypatch):
    model = trained["outcome"].result.model
    clients, sessions = _raw(trained)
    ids = clients["client_id"].tolist()
    doubled = pd.concat([clients[clients["client_id"] == ids[0]]] * 2)
    requests = [
        (request_frame(doubled, sessions[sessions["client_id"] == ids[0]]), AS_OF),
        (_request(clients, sessions, ids[1:2]), AS_OF),
    ]
    passes = _spy(monkeypatch)
    together = score_requests(model, "dropout-risk v9", requests)
    assert passes == []  # each was scored on its own
    _assert_same(together, requests, model)


def test_tiers_by_capacity_are_per_request_when_scored_together(trained, monkeypatch):
    model = copy.copy(trained["outcome"].result.model)
    model.feature_settings = {
        **model.feature_settings,
        "tiers": {"rule": "capacity", "high_per_site": 1, "medium_per_site": 1},
    }
    clients, sessions = _raw(trained)
    ids = clients["client_id"].tolist()
    requests = [(_request(clients, sessions, ids[i : i + 3]), AS_OF) for i in (0, 3, 6)]
    passes = _spy(monkeypatch)
    together = score_requests(model, "v", requests)
    assert passes == [9]
    _assert_same(together, requests, model, "v")
    # each request's own highest risk at its site is high
    assert all((a["risk_tier"] == "high").any() for a in together)


def test_a_failing_stacked_pass_falls_back_to_each_request_alone(trained, monkeypatch):
    model = trained["outcome"].result.model
    requests = _requests(trained)[:3]

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(batching, "_score_stacked", broken)
    _assert_same(score_requests(model, "dropout-risk v9", requests), requests, model)


def _start_and_release(threads, batcher, queued: int, gate: threading.Event) -> None:
    """Start ``threads``, let ``queued`` requests queue up (5 s at most), open ``gate``."""
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(batcher._queue) < queued and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    for thread in threads:
        thread.join(5)


def test_the_batcher_scores_waiting_requests_in_one_pass_and_routes_each_answer():
    started, release = threading.Event(), threading.Event()

    def score_many(requests):
        if not started.is_set():  # the first pass holds until the others queue up
            started.set()
            release.wait(5)
        return [ValueError(f"bad {a}") if a == "bad" else f"answer {a}" for _, a in requests]

    batcher = RequestBatcher(score_many)
    answers: dict[str, object] = {}

    def send(name: str) -> None:
        try:
            answers[name] = batcher.submit(pd.DataFrame(), name)
        except ValueError as exc:
            answers[name] = exc

    first = threading.Thread(target=send, args=("first",))
    first.start()
    assert started.wait(5)
    others = [threading.Thread(target=send, args=(n,)) for n in ("a", "b", "bad", "c")]
    _start_and_release(others, batcher, 4, release)
    first.join(5)
    assert answers["first"] == "answer first"
    assert [answers[n] for n in "abc"] == ["answer a", "answer b", "answer c"]
    assert isinstance(answers["bad"], ValueError) and str(answers["bad"]) == "bad bad"
    assert batcher.passes == {1: 1, 4: 1}


def test_the_batcher_passes_a_failed_pass_to_every_waiting_request():
    batcher = RequestBatcher(lambda requests: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        batcher.submit(pd.DataFrame(), None)
    # the next request is scored: a failed pass leaves the batcher ready
    batcher._score_many = lambda requests: ["fine"] * len(requests)
    assert batcher.submit(pd.DataFrame(), None) == "fine"


def test_a_long_queue_is_scored_in_passes_of_at_most_max_batch():
    sizes = []
    gate = threading.Event()

    def score_many(requests):
        gate.wait(5)
        sizes.append(len(requests))
        return [a for _, a in requests]

    batcher = RequestBatcher(score_many, max_batch=3)
    results = {}
    threads = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, batcher.submit(None, i)))
        for i in range(8)
    ]
    _start_and_release(threads, batcher, 7, gate)
    assert results == {i: i for i in range(8)}
    assert max(sizes) <= 3 and sum(sizes) == 8
