"""Scoring requests that arrive together in one pass, with the answers each would get alone.

``mlflow models serve`` runs each request's ``predict`` in a thread of its worker, so the
requests that arrive while one is being scored wait in the same process. Scoring costs
much the same for one client as for ten (validation, features and the model are
vectorised; the time of a small request is the fixed cost of each step), so
:class:`RequestBatcher` lets the requests that queued up meanwhile be scored in one pass
by :func:`score_requests`. A request that finds nothing in progress is scored at once:
one client at a time waits for nothing.

Each answer is exactly the one its request gets alone (:func:`~pipeline.registry.serving.
score_tables`; a test keeps them equal). Requests are only stacked when that cannot change
an answer:

- the same ``as_of`` parameter, and the same type for a column that several requests'
  tables have (a column a request lacks is blank on its rows once stacked, and the
  contract's rules treat a blank column as a missing one);
- no client id in common, in either table, compared loosely (trimmed, in lower case, a
  whole-number float as the integer), so records of one request never meet another's;
- no client id twice in one request's clients table (the problem names the other rows
  by number, which stacking would change), and at least one clients row.

The caseload-level parts of an answer are then made per request: ``rank``, the tiers
(the capacity rule ranks clients within a site) and, without ``as_of``, the request's own
latest appointment as its date. Anything that fails in a stacked pass is scored again
request by request, so a request's error is its own and no other request fails with it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from pipeline.registry.serving import (
    as_answer,
    request_as_of,
    score_tables,
    scorer_of,
    split_request,
    validate_request,
)

# at most this many requests in one pass: bounds the wait of the last one in a long queue
MAX_BATCH = 32

Request = tuple[pd.DataFrame, "str | None"]


@dataclass(frozen=True)
class _Split:
    """One request split into its tables, with what decides whom it may be stacked with."""

    position: int
    clients: pd.DataFrame
    sessions: pd.DataFrame
    as_of: str | None
    ids: frozenset
    stackable: bool

    def types(self) -> dict[tuple[str, str], str]:
        """Each column's type, by table."""
        return {
            (table, str(name)): str(dtype)
            for table, frame in (("clients", self.clients), ("sessions", self.sessions))
            for name, dtype in frame.dtypes.items()
        }


def score_requests(model, version_label: str, requests: Sequence[Request]) -> list[object]:
    """Each request's answer: its risk-list rows, or the exception scoring it raised.

    Parameters
    ----------
    model
        A fitted :class:`models.risk_model.RiskModel`.
    version_label
        Written in the ``model_version`` column.
    requests
        ``(stacked frame, as_of)`` pairs, as :func:`~pipeline.registry.serving.score_request`
        takes them.

    Returns
    -------
    list
        In the order of ``requests``: a DataFrame (the answer alone would give) or an
        exception (the one scoring that request alone raises).
    """
    outcomes: list[object] = [None] * len(requests)
    groups: list[list[_Split]] = []
    for position, (frame, as_of) in enumerate(requests):
        try:
            clients, sessions = split_request(frame)
        except Exception as exc:  # noqa: BLE001 - the request's own error is its answer
            outcomes[position] = exc
            continue
        split = _split(position, clients, sessions, as_of)
        group = next((g for g in groups if _fits(g, split)), None)
        if group is None:
            groups.append([split])
        else:
            group.append(split)
    for group in groups:
        answers = None
        if len(group) > 1:
            try:
                answers = _score_stacked(model, version_label, group)
            except Exception:  # noqa: BLE001 - each is scored alone instead, below
                answers = None
        for i, split in enumerate(group):
            outcomes[split.position] = (
                answers[i] if answers is not None else _alone(model, version_label, split)
            )
    return outcomes


def _alone(model, version_label: str, split: _Split) -> object:
    try:
        return score_tables(model, version_label, split.clients, split.sessions, split.as_of)
    except Exception as exc:  # noqa: BLE001 - the request's own error is its answer
        return exc


def _split(position: int, clients: pd.DataFrame, sessions: pd.DataFrame, as_of) -> _Split:
    client_keys = _id_keys(clients)
    session_keys = _id_keys(sessions)
    stackable = (
        len(clients) > 0
        and len(session_keys) > 0
        and len(set(client_keys)) == len(client_keys) == len(clients)
    )
    return _Split(
        position=position,
        clients=clients,
        sessions=sessions,
        as_of=as_of or None,
        ids=frozenset(client_keys) | frozenset(session_keys),
        stackable=stackable,
    )


def _id_keys(table: pd.DataFrame) -> list:
    """The table's client ids, loosely: any two ids validation could match share a key."""
    if "client_id" not in table.columns:
        return []
    keys = []
    for value in table["client_id"].tolist():
        if value is None or (isinstance(value, float) and value != value):
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        keys.append(str(value).strip().lower())
    return keys


def _fits(group: list[_Split], split: _Split) -> bool:
    # a group begun by a request that must be scored alone takes no other
    if not (split.stackable and group[0].stackable):
        return False
    if len(group) >= MAX_BATCH or group[0].as_of != split.as_of:
        return False
    if not all(split.ids.isdisjoint(other.ids) for other in group):
        return False
    # a column one request lacks is blank on its rows when stacked, which the contract's
    # rules treat as they treat a missing column; a column both have must read alike
    types = split.types()
    return all(
        types.get(column, dtype) == dtype
        for other in group
        for column, dtype in other.types().items()
    )


def _score_stacked(model, version_label: str, group: list[_Split]) -> list[pd.DataFrame]:
    """The answers of requests that may be stacked (see the module text), in one pass."""
    from models.caseload import score_caseload
    from models.tiers import tiers_of

    client_ends = np.cumsum([len(s.clients) for s in group])
    session_ends = np.cumsum([len(s.sessions) for s in group])
    tables = validate_request(
        model,
        pd.concat([s.clients for s in group], ignore_index=True, sort=False),
        pd.concat([s.sessions for s in group], ignore_index=True, sort=False),
    )

    # which request each kept row came from: its record number falls in that request's span
    def owner(rows: pd.Series, ends: np.ndarray) -> np.ndarray:
        return np.searchsorted(ends, rows.to_numpy(dtype="int64") - 1, side="right")

    clients_of = owner(tables.clients["row"], client_ends)
    sessions_of = owner(tables.sessions["row"], session_ends)
    rejected_of = owner(tables.rejected_clients["row"], client_ends)
    request_of = dict(zip(tables.clients["client_id"], clients_of, strict=True))
    request_of.update(zip(tables.rejected_clients["client_id"], rejected_of, strict=True))

    # the date each request is scored as of; requests with the same date share one pass
    dates = [
        request_as_of(split.as_of, tables.sessions[sessions_of == i])
        for i, split in enumerate(group)
    ]
    answers: list[pd.DataFrame | None] = [None] * len(group)
    scorer = scorer_of(model, version_label)
    rule = model.settings.tiers
    for date in dict.fromkeys(dates):
        members = np.flatnonzero([d == date for d in dates])
        part = replace(
            tables,
            clients=tables.clients[np.isin(clients_of, members)],
            sessions=tables.sessions[np.isin(sessions_of, members)],
            rejected_clients=tables.rejected_clients[np.isin(rejected_of, members)],
        )
        risk_list = score_caseload(part, scorer, date, details=False).risk_list
        of_request = risk_list["client_id"].map(request_of)
        if of_request.isna().any():  # never expected: scored alone instead, by the caller
            raise RuntimeError("a listed client belongs to none of the stacked requests")
        of_request = of_request.to_numpy()
        for i in members:
            rows = risk_list[of_request == i].reset_index(drop=True)
            rows["risk_tier"] = tiers_of(rows, rule).to_numpy()
            rows["rank"] = np.arange(1, len(rows) + 1)
            answers[i] = as_answer(rows)
    if any(answer is None for answer in answers):
        raise RuntimeError("a stacked request got no answer")
    return answers


@dataclass
class _Job:
    request: Request
    done: bool = False
    outcome: object = None


class RequestBatcher:
    """Scores the requests of concurrent threads in passes of :func:`score_requests`.

    A thread that finds no pass in progress scores the queue (its own request among them);
    the others wait for their answer. One pass at a time: the model is never used by two
    threads at once.

    Parameters
    ----------
    score_many
        Requests to outcomes (an answer, or the exception to raise in its thread).
    max_batch
        At most this many requests per pass, oldest first.
    """

    def __init__(
        self, score_many: Callable[[list[Request]], list[object]], max_batch: int = MAX_BATCH
    ) -> None:
        self._score_many = score_many
        self._max_batch = max_batch
        self._queue: list[_Job] = []
        self._busy = False
        self._ready = threading.Condition()
        # how many passes scored how many requests, for tests and benchmarks
        self.passes: Counter[int] = Counter()

    def submit(self, frame: pd.DataFrame, as_of: str | None = None) -> pd.DataFrame:
        """The request's answer; raises what scoring it raised."""
        job = _Job(request=(frame, as_of))
        with self._ready:
            self._queue.append(job)
        while True:
            with self._ready:
                while self._busy and not job.done:
                    self._ready.wait()
                if job.done:
                    break
                self._busy = True
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
            self._run(batch)
        if isinstance(job.outcome, BaseException):
            raise job.outcome
        return job.outcome

    def _run(self, batch: list[_Job]) -> None:
        # what a waiting request is told if the pass is cut short (e.g. KeyboardInterrupt)
        outcomes: list[object] = [RuntimeError("scoring was interrupted")] * len(batch)
        try:
            outcomes = self._score_many([job.request for job in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
            outcomes = [exc] * len(batch)
        finally:
            with self._ready:
                self.passes[len(batch)] += 1
                for job, outcome in zip(batch, outcomes, strict=True):
                    job.outcome, job.done = outcome, True
                self._busy = False
                self._ready.notify_all()
