"""Parsing raw cells: blanks, text, ISO dates and numbers, each column parsed once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.contract import parsing
from pipeline.contract.parsing import ParsedColumns, integers_when_whole


def test_integers_when_whole_turns_whole_floats_into_integers():
    result = integers_when_whole(pd.Series([101.0, np.nan, 7.0]))
    assert str(result.dtype) == "Int64"
    assert result.tolist() == [101, pd.NA, 7]


def test_integers_when_whole_leaves_fractions_and_text_alone():
    fractions = pd.Series([1.5, 2.0])
    assert integers_when_whole(fractions) is fractions
    text = pd.Series(["1.0"], dtype="str")
    assert integers_when_whole(text) is text


def test_blank_and_stripped_text():
    values = ParsedColumns(pd.DataFrame({"site": [" North ", "  ", None]}, dtype="str"))
    assert values.blank("site").tolist() == [False, True, True]
    assert values.text("site").tolist()[0] == "North"
    assert values.text("site").isna().tolist() == [False, True, True]
    # a column the table lacks is blank everywhere
    assert values.blank("program").tolist() == [True, True, True]


def test_dates_flag_unparseable_and_implausible_values():
    raw = ["2026-03-14", "2026-03-14T09:30", "03/14/2026", "1850-01-01", None]
    dates = ParsedColumns(pd.DataFrame({"d": raw}, dtype="str")).date("d")
    assert dates.values.tolist()[:2] == [pd.Timestamp("2026-03-14")] * 2
    assert dates.values.isna().tolist() == [False, False, True, True, True]
    assert dates.unparseable.tolist() == [False, False, True, False, False]
    assert dates.implausible.tolist() == [False, False, False, True, False]


def test_stored_timestamps_keep_their_local_date():
    stamps = pd.to_datetime(["2026-03-14 23:30"]).tz_localize("Europe/Berlin")
    dates = ParsedColumns(pd.DataFrame({"d": stamps})).date("d")
    assert dates.values.tolist() == [pd.Timestamp("2026-03-14")]
    assert not dates.unparseable.any()


def test_numbers_from_text_and_from_stored_values():
    values = ParsedColumns(
        pd.DataFrame({"t": ["4", "3,5", "inf", None], "n": [1.0, np.inf, np.nan, 2.0]})
    )
    text = values.number("t")
    assert text.values.tolist()[0] == 4.0
    assert text.values.isna().tolist() == [False, True, True, True]
    assert text.not_numeric.tolist() == [False, True, True, False]
    stored = values.number("n")
    assert stored.not_numeric.tolist() == [False, True, False, False]


def test_each_column_is_parsed_once():
    values = ParsedColumns(pd.DataFrame({"d": ["2026-01-01"]}, dtype="str"))
    assert values.date("d") is values.date("d")
    # columns the table lacks are all blank, and read as one
    absent = values.number("wai_1")
    assert absent is values.number("srs_2") and absent.values.isna().all()
    assert not absent.not_numeric.any() and len(absent.values) == 1


def test_a_few_texts_are_stripped_as_pandas_strips_them(monkeypatch):
    spaces = ["\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2003",
              "\u3000", "\u200b", "\ufeff", " "]  # fmt: skip
    raw = [f"{c}a{c}" for c in spaces] + ["", "  ", "Élan ", "a", None, "=1+1"]
    for dtype in ("str", object):
        column = pd.DataFrame({"v": raw}, dtype=dtype)
        fast = ParsedColumns(column).distinct("v")
        monkeypatch.setattr(parsing, "FEW_VALUES", 0)  # the pandas steps, for comparison
        slow = ParsedColumns(column).distinct("v")
        monkeypatch.undo()
        pd.testing.assert_series_equal(fast.text, slow.text)
        np.testing.assert_array_equal(fast.codes, slow.codes)
    # numbers are not text: they take the pandas steps (whole floats read as integers)
    numbers = ParsedColumns(pd.DataFrame({"v": [101.0, 7.0]})).distinct("v")
    assert numbers.text.tolist() == ["101", "7"]


def test_a_few_dates_are_read_as_pandas_reads_them(monkeypatch):
    raw = ["2026-03-14", "2026-03-14T09:30", "2026-03-14 09:30:00.5+02:00", "2026-03-14Z",
           "2026-02-30", "2026-13-01", "03/14/2026", "\uff12\uff10\uff12\uff16-03-14", "2026-3-14",
           "2026-03-14x", "  ", None, "1900-01-01", "2199-12-31", "2024-02-29"]  # fmt: skip
    for extra in ([], ["1850-01-01"], ["9999-01-01"]):  # a year out of range: pandas reads all
        column = pd.DataFrame({"d": raw + extra}, dtype="str")
        fast = ParsedColumns(column).date("d")
        monkeypatch.setattr(parsing, "FEW_VALUES", 0)
        slow = ParsedColumns(column).date("d")
        monkeypatch.undo()
        for name in ("values", "unparseable", "implausible"):
            pd.testing.assert_series_equal(getattr(fast, name), getattr(slow, name))
    assert fast.values.iloc[0] == pd.Timestamp("2026-03-14") and fast.unparseable.iloc[4]


def test_text_columns_factorized_together_are_what_each_column_gives(monkeypatch):
    frame = pd.DataFrame(
        {
            "client_id": pd.array(["C2", "C1", None, "C2", " C1"], dtype="str"),
            "wai_1": pd.array(["5", "", "4", "5", None], dtype="str"),
            "age": [30.0, np.nan, 41.0, 30.0, 52.0],  # typed: left to distinct()
        }
    )
    alone = ParsedColumns(frame)
    monkeypatch.setattr(parsing, "MANY_ROWS", 5)
    together = ParsedColumns(frame)
    together.factorize_text_columns()
    assert sorted(key for key in together._cache) == [
        ("distinct", "client_id"),
        ("distinct", "wai_1"),
    ]
    for column in frame.columns:
        got, want = together.distinct(column), alone.distinct(column)
        np.testing.assert_array_equal(got.codes, want.codes)
        pd.testing.assert_series_equal(got.text, want.text)
    # a smaller table is left to distinct(), one column when it is asked for
    monkeypatch.setattr(parsing, "MANY_ROWS", 6)
    small = ParsedColumns(frame)
    small.factorize_text_columns()
    assert not small._cache
