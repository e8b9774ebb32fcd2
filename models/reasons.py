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
    context = _context_lines(names, positive, rows, wording)
    # -1 (no reason) reads the blank at the end
    vocabulary = np.array([*wording.vocabulary, ""], dtype=object)
    out = {f"reason_{j + 1}": vocabulary[reasons[:, j]] for j in range(n)}
    out["context"] = context
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
) -> np.ndarray:
    """Each row's reasons: one per topic, strongest topic first, no words twice.

    Returns an ``(rows, n)`` array of positions in ``wording.vocabulary``, -1 for none.
    """
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
    # Every row's strongest topics are worded at once, a few more than n (a repeated
    # wording is skipped); the rare row that runs out of them reads on, on its own.
    spare = n + 2
    out = np.full((n_rows, n), -1, dtype=np.int64)
    for merged, (topics, sums, best, order) in enumerate(views):
        rows_here = np.flatnonzero(none_attended == bool(merged))
        if not len(rows_here) or not len(topics):
            continue
        top = order[rows_here, :spare]
        top_sums = np.take_along_axis(sums[rows_here], top, axis=1)
        top_best = np.take_along_axis(best[rows_here], top, axis=1)
        is_record = np.array([topic == ATTENDANCE_RECORD for topic in topics])
        # topics are in falling order of their sums: the live ones come first
        live, record_topic = top_sums > 1e-9, is_record[top]
        words = np.full(top.shape, -1, dtype=np.int64)
        template = top_best * 2 + record_topic  # which template words each place
        for key, at, place in _places_by(template, live):
            j, as_record = divmod(key, 2)
            name = f"record:{names[j]}" if as_record else names[j]
            words[at, place] = wording.ids(name, rows_here[at])
        chosen = _first_distinct(words, live, n)
        out[rows_here, : chosen.shape[1]] = chosen
        # a row with fewer than n distinct words among its first topics, and more topics
        # that raise its risk, reads the rest of its order
        if len(topics) > spare:
            beyond = np.take_along_axis(sums[rows_here], order[rows_here, spare : spare + 1], 1)
            short = np.flatnonzero(((chosen >= 0).sum(axis=1) < n) & (beyond[:, 0] > 1e-9))
            for at in short.tolist():
                i = int(rows_here[at])
                texts = [wording.vocabulary[w] for w in chosen[at] if w >= 0]
                for k in order[i, spare:].tolist():
                    if len(texts) == n or sums[i, k] <= 1e-9:
                        break
                    name = names[int(best[i, k])]
                    text = wording(f"record:{name}" if is_record[k] else name, i)
                    if text not in texts:
                        texts.append(text)
                out[i] = [wording.number(t) for t in texts] + [-1] * (n - len(texts))
    return out


def _places_by(keys: np.ndarray, mask: np.ndarray):
    """``(key, rows, columns)`` of the places of ``mask``, grouped by their key."""
    at, place = np.nonzero(mask)
    found = keys[at, place]
    order = np.argsort(found, kind="stable")
    at, place, found = at[order], place[order], found[order]
    if not len(found):
        return
    starts = np.flatnonzero(np.r_[True, found[1:] != found[:-1]])
    for a, b in zip(starts.tolist(), [*starts[1:].tolist(), len(found)], strict=True):
        yield int(found[a]), at[a:b], place[a:b]


def _first_distinct(words: np.ndarray, usable: np.ndarray, n: int) -> np.ndarray:
    """Per row, the first ``n`` usable words that differ from every usable word before
    them, in order; -1 after the last. ``words``: vocabulary positions, one per place."""
    keep = usable & (words >= 0)
    for place in range(1, words.shape[1]):
        for earlier in range(place):
            keep[:, place] &= ~(usable[:, earlier] & (words[:, earlier] == words[:, place]))
    rank = np.cumsum(keep, axis=1) - 1
    out = np.full((len(words), n), -1, dtype=np.int64)
    at, place = np.nonzero(keep & (rank < n))
    out[at, rank[at, place]] = words[at, place]
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
) -> np.ndarray:
    """Each row's context line: the strongest risk-raising context items, at most three."""
    cols = np.array([j for j, name in enumerate(names) if name in CONTEXT_FEATURES], dtype=int)
    values = positive[:, cols]
    # the few strongest are all a line can hold (a repeat or a second plan item is skipped,
    # so keep some spare)
    keep = min(len(cols), 2 * MAX_CONTEXT_ITEMS + 2)
    order = np.argsort(-values, axis=1, kind="stable")[:, :keep]
    live = np.take_along_axis(values, order, axis=1) > 1e-9
    col_names = [names[j] for j in cols]
    # "6 of 24 planned sessions attended" says the course length too: one plan item, the
    # first; "0 of 16 attended" repeats the first reason, so then the length alone
    plan = np.isin(order, [k for k, name in enumerate(col_names) if name in _PLAN]) & live
    usable = live & ~(plan & (np.cumsum(plan, axis=1) > 1))
    attended = rows.column("attended") if "attended" in rows else np.ones(len(rows))
    attended = np.asarray(attended, dtype=float)
    none_attended = np.isnan(attended) | (np.round(attended) == 0)
    words = np.full(order.shape, -1, dtype=np.int64)
    for k, at, place in _places_by(order, usable):
        name = col_names[k]
        if name in _PLAN:
            alone = none_attended[at]
            for as_length in (False, True):
                part = alone == as_length
                words[at[part], place[part]] = wording.ids(
                    "planned_sessions" if as_length else name, at[part]
                )
        else:
            words[at, place] = wording.ids(name, at)
    # items follow other words in the line: first letter lower-cased
    lowered = np.array(
        [wording.number(_lower_first(text)) for text in list(wording.vocabulary)], np.int64
    )
    if len(lowered):
        words = np.where(words >= 0, lowered[np.maximum(words, 0)], -1)
    items = _first_distinct(words, usable, MAX_CONTEXT_ITEMS)
    # a caseload repeats the same few lines: each distinct one is joined once
    lines, which = _distinct_rows(items, len(wording.vocabulary))
    texts = np.array(
        [
            f"Context: {'; '.join(wording.vocabulary[w] for w in line if w >= 0)}"
            if line[0] >= 0
            else ""
            for line in lines.tolist()
        ],
        dtype=object,
    )
    return texts[which.ravel()] if len(items) else np.zeros(0, dtype=object)


def _distinct_rows(items: np.ndarray, words: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(items, axis=0, return_inverse=True)`` up to the order of the distinct
    rows: each row of word numbers (-1 to ``words - 1``) read as one number, whose
    distinct values are far quicker to find than distinct rows."""
    base = words + 1
    if base ** items.shape[1] >= 2**62:
        return np.unique(items, axis=0, return_inverse=True)
    key = np.zeros(len(items), dtype=np.int64)
    for column in range(items.shape[1]):
        key = key * base + (items[:, column] + 1)
    _, first, which = np.unique(key, return_index=True, return_inverse=True)
    return items[first], which


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
