"""Plain-language reasons from a client's strongest contributions to risk.

Reasons are written in the client's own values ("Bond rating fell from 4.2 to 3.0
between sessions 2 and 3", "2 no-shows in the first 4 appointments") for clinical leads
who are not data scientists: no log-odds, no feature names (EVIDENCE.md, user ask 4).
Session numbers count attended sessions, as a clinician counts them.

Which facts become reasons:

- Signals first. The reasons are the client's own signals only: attendance, alliance
  ratings and outcome ratings, whatever raises the client's risk most.
- Context on its own line. What a clinical lead cannot change (age, planned course,
  site, program, gender, concern, referral source, the therapist's and the site's past
  dropout rates, and the bookkeeping of how far into the course the client is) is never
  a reason. When it raises risk it is listed after the reasons, at most three items, on
  one line: "Context: planned course of 30 sessions; referral source: court".
- Merged topics. Facts that say the same thing are one reason: the attendance record,
  the time since the last attended session, each alliance scale, the ORS ratings and the
  overall alliance level are one topic each. A topic gives at most one reason, ranked
  by all its facts together and worded by its strongest fact. For a client who has not
  attended a session yet, the attendance record and the time since are one topic. Counts
  of missed appointments read together: "2 no-shows and 1 late cancellation in the first
  6 appointments".
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pandas as pd

from features.schema import (
    FEATURE_FAMILIES,
    FEATURE_NAMES,
    MONOTONE_DIRECTIONS,
    SCALE_LABELS,
)
from models.reason_words import Template, _int, _missing, _plural, reason_templates
from models.row_reader import RowReader, Wording

# what the lead cannot change: who the client is, where and with whom they are seen, and
# how far into the course they are; never a reason, only the context line
CONTEXT_FEATURES: frozenset[str] = frozenset(
    name for name, family in FEATURE_FAMILIES.items() if family in ("intake", "history")
) | {"appointments", "days_in_treatment", "plan_progress"}
MAX_CONTEXT_ITEMS = 3
# the course plan in the context line: progress through it, or its length, never both
_PLAN = ("plan_progress", "planned_sessions")

ATTENDANCE_RECORD = "attendance record"
RECENCY = "recency"
_RECORD = (
    "attendance_rate",
    "no_shows",
    "late_cancels",
    "cancellations",
    "missed_first_appointment",
)
_RECENCY = ("misses_since_last_attended", "days_since_last_attended", "longest_gap_days")
# the record's features worded from all its counts together
_RECORD_COUNTS = ("attendance_rate", "no_shows", "late_cancels", "cancellations")
_COUNT_WORDS = (
    ("no_shows", "no-show"),
    ("late_cancels", "late cancellation"),
    ("cancellations", "cancellation"),
)


def is_signal(name: str) -> bool:
    """Whether a feature is one of the client's own signals, so may be a reason."""
    return name in FEATURE_FAMILIES and name not in CONTEXT_FEATURES


def _topic(name: str) -> str:
    if name in _RECORD:
        return ATTENDANCE_RECORD
    if name in _RECENCY:
        return RECENCY
    if name in ("alliance_level", "low_alliance_x_misses"):
        return "overall alliance"
    for scale in ("wai_bond", "wai_goal", "wai_task"):
        if name.startswith(f"{scale}_"):
            return SCALE_LABELS[scale]
    if name.startswith("srs_"):
        return "SRS"
    if name.startswith("ors_"):
        return "ORS"
    return name  # a signal not grouped yet is a topic of its own


# each signal's topic: facts of one topic repeat one another, so give one reason at most
TOPICS: dict[str, str] = {name: _topic(name) for name in FEATURE_NAMES if is_signal(name)}


def something_happened(examples: pd.DataFrame, names) -> np.ndarray:
    """Whether each feature may be a reason: the client's own value shows the sign.

    Contributions are measured against the average client, so "0 no-shows" can raise risk
    a little when the average is 0.4, and "goal rating rose from 3.2 to 3.4" when the
    average rise is larger. Neither reads as a reason to call someone. For features with
    a clinical direction (``features.schema``), a count or a flag is a reason only when
    it is above zero, and a change or slope only when it is a fall; levels, intake
    attributes and undirected features are always eligible.

    Returns
    -------
    numpy.ndarray
        Boolean, rows of ``examples`` by ``names``.
    """
    eligible = np.ones((len(examples), len(names)), dtype=bool)
    for j, name in enumerate(names):
        if name not in examples:  # e.g. history features when the model's were not joined
            eligible[:, j] = False
            continue
        direction = MONOTONE_DIRECTIONS.get(name, 0)
        if direction == 0:
            continue
        value = examples[name].to_numpy(dtype=float)
        if FEATURE_FAMILIES.get(name) == "history":
            # a reason only when this therapist's (site's) rate is above everyone's
            prior = examples.get("ctx_history_prior")
            eligible[:, j] = value > (prior.to_numpy(dtype=float) if prior is not None else 1.0)
        elif name.endswith(("_change", "_slope")):
            eligible[:, j] = value < 0
        elif name.endswith("_repairs"):
            # fewer repairs than ruptures: a drop still open
            ruptures = examples[name.replace("_repairs", "_ruptures")].to_numpy(dtype=float)
            eligible[:, j] = ruptures > value
        elif direction > 0 and not name.startswith(("days_", "longest_")):
            eligible[:, j] = value > 0
    return eligible


def top_reasons(
    examples: pd.DataFrame, contributions: pd.DataFrame, settings: dict, n: int = 3
) -> pd.DataFrame:
    """The ``n`` strongest risk-raising signals of each client in words, and the context.

    Only contributions that raise risk count, and only where something happened
    (:func:`something_happened`). Reasons come from signals only (:func:`is_signal`), one
    per topic (:data:`TOPICS`): topics rank by their features' summed contribution and
    read as their strongest feature. A client with fewer than ``n`` such topics gets
    blanks after the last one. Context features never become a reason; the strongest
    three that raise risk make up the ``context`` line.

    Parameters
    ----------
    examples
        Feature rows with their ``ctx_*`` context columns (same index as contributions).
    contributions
        Per-feature contributions on the margin scale (from ``RiskModel.explain``).
    settings
        The model's feature settings (for cut-offs in the wording).
    n
        How many reasons.

    Returns
    -------
    pandas.DataFrame
        Columns ``reason_1`` … ``reason_n`` (empty string when none) and ``context``
        (``"Context: a; b"``, or empty), same index.
    """
    templates = reason_templates(settings)
    names = list(contributions.columns)
    raw = contributions.to_numpy(dtype=float)
    positive = np.where(something_happened(examples, names) & (raw > 1e-9), raw, 0.0)
    if "attended" in examples:
        none_attended = examples["attended"].to_numpy(dtype=float) == 0
    else:
        none_attended = np.zeros(len(examples), dtype=bool)
    rows = RowReader(examples)
    # the attendance record's line reads several counts at once: a template of its own
    record = {
        f"record:{name}": functools.partial(_record_words, name, templates=templates)
        for name in names
    }
    wording = Wording(rows, {**templates, **record})
    reasons = _signal_reasons(names, positive, none_attended, wording, n)
    out = {
        f"reason_{j + 1}": [chosen[j] if j < len(chosen) else "" for chosen in reasons]
        for j in range(n)
    }
    out["context"] = _context_lines(names, positive, rows, wording)
    return pd.DataFrame(out, index=examples.index)


def _topic_columns(names: list[str], merge_record: bool) -> tuple[list[str], np.ndarray]:
    """The topics and each column's topic index (-1 for context features)."""
    topics: list[str] = []
    index = np.full(len(names), -1)
    for j, name in enumerate(names):
        topic = TOPICS.get(name)
        if topic is None:
            continue
        if merge_record:
            # no session attended: no rating either, so every signal says that one fact
            topic = ATTENDANCE_RECORD
        if topic not in topics:
            topics.append(topic)
        index[j] = topics.index(topic)
    return topics, index


def _signal_reasons(
    names: list[str],
    positive: np.ndarray,
    none_attended: np.ndarray,
    wording: Wording,
    n: int,
) -> list[list[str]]:
    """Each row's reasons: one per topic, strongest topic first, no words twice."""
    n_rows = len(positive)
    # topic sums and each topic's strongest column, as read apart and with the attendance
    # record and recency read as one (for clients who attended no session yet)
    views = []
    for merge in (False, True):
        topics, index = _topic_columns(names, merge)
        sums = np.zeros((n_rows, len(topics)))
        best = np.full((n_rows, len(topics)), -1)
        for k in range(len(topics)):
            cols = np.flatnonzero(index == k)
            sums[:, k] = positive[:, cols].sum(axis=1)
            best[:, k] = cols[np.argmax(positive[:, cols], axis=1)]
        views.append((topics, sums, best, np.argsort(-sums, axis=1, kind="stable")))
    # Each row reads its strongest topics as plain lists (reading NumPy arrays one element
    # at a time is the slow part of a loop over every client): a few more than n, since a
    # repeated wording is skipped, then, only if it runs out, the rest of its order.
    spare = n + 2
    out: list[list[str]] = [[] for _ in range(n_rows)]
    for merged, (topics, sums, best, order) in enumerate(views):
        rows_here = np.flatnonzero(none_attended == bool(merged))
        if not len(rows_here) or not len(topics):
            continue
        top = order[rows_here, :spare]
        top_sums = np.take_along_axis(sums[rows_here], top, axis=1)
        top_best = np.take_along_axis(best[rows_here], top, axis=1)
        is_record = [topic == ATTENDANCE_RECORD for topic in topics]
        # the words of every row's candidates, worked out per template at once
        live, record_topic = top_sums > 1e-9, np.array(is_record)[top]
        for j in np.unique(top_best[live]).tolist():
            for as_record in (False, True):
                hit = (live & (top_best == j) & (record_topic == as_record)).any(axis=1)
                if hit.any():
                    name = f"record:{names[j]}" if as_record else names[j]
                    wording.prepare(name, rows_here[hit])
        top_sums, top_best = top_sums.tolist(), top_best.tolist()

        def rest(i: int, sums=sums, best=best, order=order):
            for k in order[i, spare:].tolist():
                yield k, sums[i, k], int(best[i, k])

        for i, ks, ss, bs in zip(rows_here.tolist(), top.tolist(), top_sums, top_best, strict=True):
            if ss[0] <= 1e-9:
                continue  # nothing raises this client's risk
            chosen = out[i]
            for k, total, j in itertools.chain(zip(ks, ss, bs, strict=True), rest(i)):
                if len(chosen) == n or total <= 1e-9:
                    break
                name = names[j]
                words = wording(f"record:{name}" if is_record[k] else name, i)
                if words not in chosen:
                    chosen.append(words)
    return out


def _record_words(name: str, r, templates: dict[str, Template]) -> str:
    """The attendance record in one line, from all its counts together where it can."""
    none_attended = _int(r["attended"]) == 0
    counted = name in _RECORD_COUNTS or (none_attended and name == "misses_since_last_attended")
    counts = [_plural(_int(r[col]), word) for col, word in _COUNT_WORDS if _int(r[col]) > 0]
    appointments = _plural(_int(r["appointments"]), "appointment")
    if none_attended:
        days = r.get("days_since_last_attended")
        head = (
            "No session attended yet"
            if _missing(days)
            else f"No session attended in the {_plural(_int(days), 'day')} since intake"
        )
        return f"{head}: {_and_join(counts)} in {appointments}" if counts else head
    if not counted or not counts:
        return templates[name](r)
    return f"{_and_join(counts)} in the first {appointments}"


def _context_lines(
    names: list[str], positive: np.ndarray, rows: RowReader, wording: Wording
) -> list[str]:
    """Each row's context line: the strongest risk-raising context items, at most three."""
    cols = np.array([j for j, name in enumerate(names) if name in CONTEXT_FEATURES], dtype=int)
    values = positive[:, cols]
    # the few strongest are all a line can hold (a repeat or a second plan item is skipped,
    # so keep some spare), as plain lists: see _signal_reasons
    keep = min(len(cols), 2 * MAX_CONTEXT_ITEMS + 2)
    order = np.argsort(-values, axis=1, kind="stable")[:, :keep]
    strongest = np.take_along_axis(values, order, axis=1)
    col_names = [names[j] for j in cols]
    live = strongest > 1e-9
    for k in np.unique(order[live]).tolist():
        hit = np.flatnonzero((live & (order == k)).any(axis=1))
        wording.prepare(col_names[k], hit)
        if col_names[k] in _PLAN:
            wording.prepare("planned_sessions", hit)
    out = []
    for i, (row_order, row_values) in enumerate(
        zip(order.tolist(), strongest.tolist(), strict=True)
    ):
        if not row_values or row_values[0] <= 1e-9:
            out.append("")
            continue
        items: list[str] = []
        plan_said = False
        for k, value in zip(row_order, row_values, strict=True):
            if len(items) == MAX_CONTEXT_ITEMS or value <= 1e-9:
                break
            name = col_names[k]
            if name in _PLAN:
                # "6 of 24 planned sessions attended" says the course length too: one item
                if plan_said:
                    continue
                plan_said = True
                if _int(rows[i].get("attended", 1.0)) == 0:
                    name = "planned_sessions"  # "0 of 16 attended" repeats the first reason
            words = _lower_first(wording(name, i))
            if words not in items:
                items.append(words)
        out.append(f"Context: {'; '.join(items)}" if items else "")
    return out


@functools.lru_cache(maxsize=4096)  # a caseload repeats the same few thousand lines
def _lower_first(text: str) -> str:
    """Words to follow others in a line: first letter lower-cased, acronyms (SRS) kept."""
    first = text.split(" ", 1)[0]
    if len(first) > 1 and first[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def _and_join(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
