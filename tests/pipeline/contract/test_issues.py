"""Wording rule failures: value as written, reason with the fix, order by row then rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.contract.issues import (
    as_written,
    empty_issues,
    list_issues,
    rejected_clients,
    rejected_mask,
)
from pipeline.contract.parsing import ParsedColumns
from pipeline.contract.rules import Rule


def _rule(column: str, name: str, fails, problem: str = "is wrong") -> Rule:
    return Rule(
        column,
        name,
        fails,
        lambda shown: column + " '" + shown + "' " + problem,
        "write it right",
    )


def test_issues_are_worded_and_sorted_by_row_then_rule():
    frame = pd.DataFrame({"client_id": ["C1", " C2 "], "age": ["x", "240"]}, dtype="str")
    rules = [
        _rule("age", "first", lambda s: pd.Series([False, True])),
        _rule("client_id", "second", lambda s: pd.Series([True, True])),
    ]
    issues = list_issues(frame, rules, ParsedColumns(frame), "clients", "c.csv")
    assert list(issues.columns) == [
        "table",
        "file",
        "row",
        "column",
        "value",
        "reason",
        "problem",
        "client_id",
    ]
    assert issues[["row", "column", "value"]].values.tolist() == [
        [1, "client_id", "C1"],
        [2, "age", "240"],
        [2, "client_id", " C2 "],
    ]
    assert issues.loc[2, "reason"] == "client_id 'C2' is wrong; fix: write it right"
    assert issues["client_id"].tolist() == ["C1", "C2", "C2"]


def test_no_failures_give_an_empty_issues_table():
    frame = pd.DataFrame({"age": ["1"]}, dtype="str")
    rules = [_rule("age", "never", lambda s: pd.Series([False]))]
    issues = list_issues(frame, rules, ParsedColumns(frame), "clients", "c.csv")
    assert issues.empty
    assert list(issues.columns) == list(empty_issues().columns)
    assert issues["row"].dtype == "int64"


def test_a_rule_that_raises_is_an_internal_error_not_a_data_problem():
    def broken(series: pd.Series) -> pd.Series:
        raise ValueError("bug")

    frame = pd.DataFrame({"age": ["1"]}, dtype="str")
    with pytest.raises(RuntimeError, match="validation failed internally"):
        list_issues(frame, [_rule("age", "broken", broken)], ParsedColumns(frame), "c", "c.csv")


def test_as_written_quotes_typed_values_as_the_user_wrote_them():
    assert as_written(pd.Series([240.0, np.nan])).tolist() == ["240", ""]
    assert as_written(pd.Series([2.5])).tolist() == ["2.5"]
    stamps = pd.Series(pd.to_datetime(["2026-01-05", "2026-01-06 14:00", None], format="ISO8601"))
    assert as_written(stamps).tolist() == ["2026-01-05", "2026-01-06 14:00:00", ""]
    assert as_written(pd.Series([" a ", None], dtype="str")).tolist() == [" a ", ""]


def test_rejected_mask_marks_rows_with_any_issue():
    issues = pd.DataFrame({"row": [2, 2, 4]})
    assert rejected_mask(issues, 4).tolist() == [False, True, False, True]


def test_no_rejected_client_gives_the_same_empty_table_as_rejections_filtered_away():
    frame = pd.DataFrame(
        {"client_id": ["C1"], "therapist_id": ["T"], "site": ["s"], "age": ["240"]}, dtype="str"
    )
    values = ParsedColumns(frame)
    rules = [_rule("age", "range", lambda s: pd.Series([True]))]
    one = rejected_clients(list_issues(frame, rules, values, "clients", "c.csv"), values)
    assert one["client_id"].tolist() == ["C1"] and one["reason"].iloc[0].startswith("row rejected")
    none = rejected_clients(empty_issues(), values)
    pd.testing.assert_frame_equal(none, one.iloc[:0])
    none.loc[0] = ["x", "t", "s", 1, "r", True]  # a copy: the next caller's table is still empty
    assert rejected_clients(empty_issues(), values).empty
