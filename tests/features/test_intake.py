"""Intake attributes: numbers as floats, categories stripped and lower-cased."""

from __future__ import annotations

import pandas as pd

from features.intake import intake_features

PROGRAMS = [" Outpatient ", "IOP\t", "", None, "residential", "\x1fDay\x1c", "Tagesklinik Ä "]


def _clients(programs: list) -> pd.DataFrame:
    n = len(programs)
    return pd.DataFrame(
        {
            "client_id": [f"c{i}" for i in range(n)],
            "program": pd.Series(programs, dtype="str"),
            "age": ["30"] * n,
        }
    )


def test_categories_are_stripped_lower_cased_and_blank_is_missing():
    out = intake_features(_clients(PROGRAMS))
    assert out.index.name == "client_id" and out["age"].tolist() == [30.0] * len(PROGRAMS)
    assert out["program"].tolist()[:2] == ["outpatient", "iop"]
    assert pd.isna(out["program"].iloc[2]) and pd.isna(out["program"].iloc[3])
    assert out["program"].iloc[5] == "day" and out["program"].iloc[6] == "tagesklinik ä"
    # a column the table lacks is missing for everyone
    assert out["gender"].isna().all() and out["planned_sessions"].isna().all()


def test_a_few_clients_read_as_many_do():
    few = intake_features(_clients(PROGRAMS[:6]))  # ASCII only: read in plain Python
    many = intake_features(_clients(PROGRAMS[:6] * 20))  # too many for that: pandas' steps
    pd.testing.assert_series_equal(
        few["program"].reset_index(drop=True), many["program"].iloc[:6].reset_index(drop=True)
    )
    assert few["program"].dtype == many["program"].dtype
