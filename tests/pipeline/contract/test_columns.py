"""The contract's column sets: required columns stop the run, extra ones are set aside."""

from __future__ import annotations

import pandas as pd
import pytest

from configs.config import load_config
from configs.errors import InputError
from pipeline.contract.columns import (
    CLIENTS_COLUMNS,
    SESSIONS_REQUIRED,
    rating_ranges,
    require_columns,
    sessions_columns,
    split_contract_columns,
)


def test_split_keeps_contract_columns_in_file_order_and_lists_the_rest():
    frame = pd.DataFrame({"note": ["x"], "site": ["A"], "client_id": ["C1"], "zip": ["1"]})
    known, extra = split_contract_columns(frame, CLIENTS_COLUMNS)
    assert list(known.columns) == ["site", "client_id"]
    assert known["client_id"].tolist() == ["C1"]
    assert extra == ["note", "zip"]


def test_split_without_extra_columns():
    frame = pd.DataFrame({"client_id": ["C1"]})
    known, extra = split_contract_columns(frame, CLIENTS_COLUMNS)
    assert list(known.columns) == ["client_id"]
    assert extra == []


def test_require_columns_passes_when_all_are_there():
    require_columns(
        [("sessions.csv", pd.DataFrame(columns=list(SESSIONS_REQUIRED)), SESSIONS_REQUIRED)]
    )


def test_require_columns_names_file_missing_and_found_columns_and_fix():
    frame = pd.DataFrame(columns=["client_id", "extra"])
    with pytest.raises(InputError) as caught:
        require_columns([("s.csv", frame, SESSIONS_REQUIRED)])
    assert str(caught.value) == (
        "s.csv: missing required columns session_date, status (columns found: client_id, "
        "extra).\nFix: add the missing columns, or rename the matching ones to these exact "
        "lower-case names (see the data contract)."
    )


def test_require_columns_says_none_found_for_a_table_without_columns():
    with pytest.raises(InputError, match=r"c\.csv: missing required column client_id "):
        require_columns([("c.csv", pd.DataFrame(), ("client_id",))])
    with pytest.raises(InputError, match=r"\(columns found: none\)"):
        require_columns([("c.csv", pd.DataFrame(), ("client_id",))])


def test_rating_columns_follow_the_instruments():
    instruments = load_config().instruments
    ranges = rating_ranges(instruments)
    assert ranges["wai_1"] == (instruments.wai.min, instruments.wai.max)
    assert list(ranges)[-2:] == ["srs_total", "ors_total"]
    assert sessions_columns(instruments) == (*SESSIONS_REQUIRED, "therapist_id", *ranges)
