"""The pages' number formatters: exact strings, and both flavours where the pages differ."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.reports.formatters import (
    DASH,
    FILTERS,
    count,
    finite,
    looks_numeric,
    num,
    pct,
    risk_percent,
    rounded,
    significant,
    with_ci,
)
from pipeline.reports.templating import ENVIRONMENT


@pytest.mark.parametrize(
    "value, digits, shown",
    [
        (0.81234, 3, "0.812"),
        (0.8125, 2, "0.81"),
        (-0.0123, 3, "-0.012"),
        (2, 1, "2.0"),
        ("0.5", 3, "0.500"),
        (np.float64(0.25), 2, "0.25"),
        (math.nan, 3, DASH),
        (math.inf, 3, DASH),
        (None, 3, DASH),
        ("n/a", 3, DASH),
    ],
)
def test_num(value, digits, shown):
    assert num(value, digits) == shown


def test_num_can_keep_text_that_is_not_a_number():
    assert num("n/a", keep_text=True) == "n/a"
    assert num(None, keep_text=True) == "None"
    assert num(math.nan, keep_text=True) == DASH  # a missing number is still a dash
    assert num(0.5, keep_text=True) == "0.500"


@pytest.mark.parametrize(
    "value, digits, shown",
    [(0.2712, 1, "27.1%"), (0.5, 0, "50%"), (1, 1, "100.0%"), (math.nan, 1, DASH), (None, 1, DASH)],
)
def test_pct(value, digits, shown):
    assert pct(value, digits) == shown


@pytest.mark.parametrize(
    "value, shown", [(81234.0, "81,234"), (7, "7"), (2.5, "2"), (math.nan, DASH), ("x", DASH)]
)
def test_count(value, shown):
    assert count(value) == shown


ROW = {"auroc": 0.8, "auroc_ci_low": 0.75, "auroc_ci_high": 0.85}


def test_with_ci():
    assert with_ci(ROW, "auroc") == "0.800 (0.750 to 0.850)"
    assert with_ci(ROW, "auroc", 2) == "0.80 (0.75 to 0.85)"
    assert with_ci({"auroc": 0.8}, "auroc") == "0.800"
    assert with_ci({"auroc": 0.8, "auroc_ci_low": math.nan, "auroc_ci_high": 0.9}, "auroc") == (
        "0.800"
    )
    assert with_ci({}, "auroc") == DASH
    assert with_ci(pd.Series(ROW), "auroc") == "0.800 (0.750 to 0.850)"


def test_with_ci_when_the_estimate_is_missing_in_each_flavour():
    row = {"auroc": math.nan, "auroc_ci_low": 0.7, "auroc_ci_high": 0.9}
    assert with_ci(row, "auroc") == DASH  # the model card
    assert with_ci(row, "auroc", interval_if_no_estimate=True) == f"{DASH} (0.700 to 0.900)"
    text = {"auroc": "n/a", "auroc_ci_low": 0.7, "auroc_ci_high": 0.9}
    assert with_ci(text, "auroc", keep_text=True) == "n/a (0.700 to 0.900)"


@pytest.mark.parametrize(
    "text, card, evaluation",
    [
        ("0.812 (0.79 to 0.83)", True, True),
        ("27.1%", True, True),
        (DASH, True, True),
        (f"{DASH} (0.1 to 0.2)", True, True),
        ("1,234", True, False),  # thousands commas: read by the card only
        (f"{DASH}0.5", False, True),  # an en dash as minus: read by the evaluation only
        ("north", False, False),
        ("", False, False),
    ],
)
def test_looks_numeric_in_each_flavour(text, card, evaluation):
    assert looks_numeric(text) is card
    assert looks_numeric(text, commas=False, dash_minus=True) is evaluation


@pytest.mark.parametrize(
    "value, digits, out",
    [(4.4567, 2, 4.46), ("3.04", 1, 3.0), (7, 2, 7), (None, 2, None), (math.inf, 2, None)],
)
def test_rounded(value, digits, out):
    assert rounded(value, digits) == out


def test_rounded_refuses_text_and_nan():
    assert rounded("abc") is None and rounded(math.nan) is None


@pytest.mark.parametrize(
    "risk, shown",
    [
        (0.435, "43%"),
        (0.4349, "43%"),
        (0.3996, "39%"),  # a medium risk under a 40% threshold never reads as 40%
        (0.4, "40%"),
        (0.0049, "<1%"),
        (0.99, "99%"),
        (0.9951, ">99%"),
        (1.0, "100%"),
        (None, ""),
    ],
)
def test_risk_percent(risk, shown):
    assert risk_percent(risk) == shown


def test_significant_and_finite():
    assert significant(0.31234) == "0.3123"
    assert significant(12345.0) == "1.234e+04"
    assert significant(7) == "7" and significant("v7 <beta>") == "v7 <beta>"
    assert finite("0.5") == 0.5 and finite(math.nan) is None and finite(object()) is None


def test_the_formatters_are_template_filters():
    for name, function in FILTERS.items():
        assert ENVIRONMENT.filters[name] is function
    template = ENVIRONMENT.from_string(
        "{{ 0.2712|pct }} {{ 0.81234|num(2) }} {{ 81234|count }} {{ row|with_ci('auroc') }} "
        "{{ 0.435|risk_percent }}"
    )
    # the template escapes the filter's output like any other text: "<1%" stays text
    assert template.render(row=ROW) == "27.1% 0.81 81,234 0.800 (0.750 to 0.850) 43%"
    assert ENVIRONMENT.from_string("{{ 0.001|risk_percent }}").render() == "&lt;1%"
