"""A frame's rows read as to_dict("records") would give them, one at a time."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.row_reader import FEW_ROWS, RowReader, Wording


def test_rows_read_as_records_would():
    frame = pd.DataFrame(
        {
            "n": [1.5, np.nan],
            "k": [3, 4],
            "flag": [True, False],
            "text": pd.Series(["a", None], dtype="str"),
            "when": pd.to_datetime(["2026-01-05", None]),
        }
    )
    rows = RowReader(frame)
    assert len(rows) == 2
    first, second = rows[0], rows[1]
    assert first["n"] == 1.5 and math.isnan(second["n"])
    assert first["k"] == 3.0 and bool(first["flag"]) is True and bool(second["flag"]) is False
    assert first["text"] == "a" and second["text"] is None
    assert second["when"] is None and first["when"] == pd.Timestamp("2026-01-05")
    assert "n" in first and "other" not in first
    assert first.get("other", "none") == "none" and first.get("k") == 3.0
    with pytest.raises(KeyError):
        first["other"]


def _branching(calls: list):
    """A template that reads ``b`` only when ``a`` is missing, and asks about ``z``."""

    def template(r) -> str:
        calls.append(1)
        a = r["a"]
        if a != a:  # NaN
            return f"no a; b is {r['b']}; z {'z' in r}"
        return f"a is {a:g}; c is {r.get('c', 'absent')}"

    return template


def test_wording_gives_each_rows_words_calling_the_template_once_per_input():
    frame = pd.DataFrame(
        {
            "a": [1.0, 1.0, np.nan, np.nan, 0.0, -0.0, 2.0, 1.0] * 125,
            "b": ["x", "y", "x", "y", "x", None, "x", "y"] * 125,
            "c": [True, True, False, False, True, True, False, True] * 125,
        }
    )
    calls: list = []
    rows = RowReader(frame)
    template = _branching([])
    expected = [template(rows[i]) for i in range(len(frame))]
    wording = Wording(rows, {"t": _branching(calls)})
    wording.prepare("t", np.arange(len(frame)))
    assert [wording("t", i) for i in range(len(frame))] == expected
    # -0.0 prints apart from 0.0, and NaN rows differ by b (read only for them)
    assert expected[4] == "a is 0; c is True" and expected[5] == "a is -0; c is True"
    assert expected[2] != expected[3]
    # 1,000 rows of 7 distinct inputs: a few calls per input, never one per row
    assert len(set(expected)) == 6
    assert len(calls) <= 3 * 7


def test_wording_falls_back_to_the_template_for_rows_not_prepared():
    n = 3 * FEW_ROWS
    frame = pd.DataFrame({"a": np.arange(n) % 3 + 1.0, "b": ["p"] * n, "c": [True] * n})
    rows = RowReader(frame)
    calls: list = []
    wording = Wording(rows, {"t": _branching(calls)})
    wording.prepare("t", np.arange(FEW_ROWS))
    wording.prepare("t", np.arange(2 * FEW_ROWS, n))
    prepared = len(calls)
    expected = [f"a is {i % 3 + 1}; c is True" for i in range(n)]
    assert [wording("t", i) for i in range(n)] == expected
    # the rows in neither batch were worded one by one, the others looked up
    assert len(calls) == prepared + FEW_ROWS
    # a batch of fewer rows is not grouped at all
    few = Wording(rows, {"t": _branching(calls := [])})
    few.prepare("t", np.arange(FEW_ROWS - 1))
    assert calls == [] and few("t", 0) == "a is 1; c is True"


def test_wording_ids_number_equal_words_alike_across_templates_and_batches():
    n = 2 * FEW_ROWS
    frame = pd.DataFrame({"a": np.arange(n) % 4 + 1.0})
    rows = RowReader(frame)
    templates = {
        "small": lambda r: "low" if r["a"] <= 2 else "high",
        "parity": lambda r: "low" if r["a"] % 2 else "even",
    }
    wording = Wording(rows, templates)
    # a grouped batch, then a batch too small to group (worded row by row), with repeats
    big = wording.ids("small", np.arange(n))
    few = wording.ids("parity", np.array([0, 1, 1, 3]))
    again = wording.ids("small", np.array([5, 5, 0]))
    words = wording.vocabulary
    assert [words[i] for i in big] == [templates["small"](rows[i]) for i in range(n)]
    assert [words[i] for i in few] == ["low", "even", "even", "even"]
    assert [words[i] for i in again] == ["low", "low", "low"]
    # one number per distinct text, whichever template wrote it
    assert sorted(words) == ["even", "high", "low"]
    assert few[0] == big[0]
    assert len(wording.ids("small", np.zeros(0, dtype=int))) == 0


def test_a_reader_says_which_columns_its_frame_has():
    rows = RowReader(pd.DataFrame({"a": [1.0], "b": ["x"]}))
    assert "a" in rows and "b" in rows and "c" not in rows
    assert "c" not in rows[0] and rows[0].get("c", 7) == 7
