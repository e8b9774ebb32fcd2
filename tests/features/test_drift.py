"""Feature drift, the training side: reference dates, cross-sections and a private profile."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.drift import cross_sections, fit_profile, reference_dates
from features.schema import HISTORY_FEATURES, MODEL_INPUTS
from tests.conftest import make_clients, make_sessions

SITES = ("north", "south", "east")


def _rows(
    n: int,
    seed: int,
    *,
    age_shift: float = 0.0,
    site_p: tuple[float, ...] = (0.5, 0.3, 0.2),
    srs_missing: float = 0.1,
) -> pd.DataFrame:
    """Model-input-like rows: a continuous, a count, a partly missing and two categorical
    features, plus the ids a profile must never hold. ``age_shift`` is in SDs; the SRS
    missing share is exact."""
    rng = np.random.default_rng(seed)
    srs = rng.normal(38, 5, n)
    srs[rng.permutation(n)[: round(srs_missing * n)]] = np.nan
    return pd.DataFrame(
        {
            "client_id": [f"client-{seed}-{i:05d}" for i in range(n)],
            "age": rng.normal(35, 12, n) + 12 * age_shift,
            "no_shows": rng.poisson(1.0, n).astype(float),
            "srs_total_last": srs,
            "site": rng.choice(SITES, n, p=site_p).astype(object),
            "program": rng.choice(["outpatient", "group"], n, p=[0.7, 0.3]).astype(object),
            "therapist_id": [f"therapist-{i:02d}" for i in rng.integers(0, 40, n)],
        }
    )


def test_reference_dates_step_back_from_the_latest_session():
    dates = pd.Series(pd.to_datetime(["2026-01-01", "2026-06-30", "2026-03-15"]))
    assert reference_dates(dates, n=6, spacing_days=28) == list(
        pd.to_datetime(
            ["2026-02-10", "2026-03-10", "2026-04-07", "2026-05-05", "2026-06-02", "2026-06-30"]
        )
    )


def test_reference_dates_never_before_the_earliest_session():
    dates = pd.Series(pd.to_datetime(["2026-05-01", "2026-06-30", None]))
    assert reference_dates(dates, n=6, spacing_days=28) == list(
        pd.to_datetime(["2026-05-05", "2026-06-02", "2026-06-30"])
    )
    assert reference_dates(dates, n=1) == [pd.Timestamp("2026-06-30")]


def test_reference_dates_of_no_sessions_is_empty():
    assert reference_dates(pd.Series([], dtype="datetime64[ns]")) == []
    assert reference_dates(pd.Series([pd.NaT, pd.NaT])) == []


def test_reference_dates_reject_a_nonsense_setting():
    with pytest.raises(ValueError, match="n >= 1 and spacing_days >= 1"):
        reference_dates(pd.Series(pd.to_datetime(["2026-01-01"])), n=0)


def _caseload():
    clients = make_clients(
        # discharged on 02-01: active on 01-27, not on 02-01 itself nor after
        {
            "client_id": "C1",
            "therapist_id": "T1",
            "discharge_date": "2026-02-01",
            "discharge_reason": "completed",
        },
        {"client_id": "C2", "therapist_id": "T2"},
        # starts after the first date
        {"client_id": "C3", "therapist_id": "T3", "intake_date": "2026-03-01"},
    )
    sessions = pd.concat(
        [
            make_sessions("C1", "2026-01-12", ["attended"] * 3),
            make_sessions("C2", "2026-01-12", ["attended", "no_show"] + ["attended"] * 6),
            make_sessions("C3", "2026-03-02", ["attended"]),
        ],
        ignore_index=True,
    )
    return clients, sessions


def test_cross_sections_hold_the_clients_active_on_each_date(config):
    clients, sessions = _caseload()
    dates = pd.to_datetime(["2026-01-27", "2026-02-01", "2026-03-03"])
    rows = cross_sections(clients, sessions, config.instruments, config.features, list(dates))
    assert list(rows.columns) == list(MODEL_INPUTS)
    # 01-27: C1 and C2; 02-01: C2 (C1 discharged that day); 03-03: C2 and C3
    assert rows["therapist_id"].tolist() == ["T1", "T2", "T2", "T2", "T3"]
    by_date = rows.assign(date=dates[[0, 0, 1, 2, 2]]).set_index(["date", "therapist_id"])
    # only the appointments on or before each date count: C2 has 8 in all
    assert by_date.loc[(dates[0], "T2"), "appointments"] == 3
    assert by_date.loc[(dates[0], "T2"), "no_shows"] == 1
    assert by_date.loc[(dates[1], "T2"), "appointments"] == 3
    assert by_date.loc[(dates[2], "T2"), "appointments"] == 8
    assert by_date.loc[(dates[0], "T1"), "appointments"] == 3
    assert by_date.loc[(dates[0], "T2"), "days_in_treatment"] == 22  # intake 01-05
    assert by_date.loc[(dates[1], "T2"), "days_in_treatment"] == 27
    assert by_date.loc[(dates[2], "T3"), "appointments"] == 1
    assert by_date.loc[(dates[2], "T3"), "days_in_treatment"] == 2


def test_cross_sections_of_no_dates_is_an_empty_frame(config):
    clients, sessions = _caseload()
    rows = cross_sections(clients, sessions, config.instruments, config.features, [])
    assert rows.empty
    assert list(rows.columns) == list(MODEL_INPUTS)


def test_profile_is_json_and_holds_no_identifier_nor_rare_category():
    rows = _rows(2000, 3)
    rows.loc[:2, "site"] = "hamlet"  # 3 rows: must not be named
    rows["therapist_dropout_rate"] = 0.3  # a learnt history feature: never profiled
    profile = fit_profile(rows, min_cell=10)
    text = json.dumps(profile, allow_nan=False)
    assert json.loads(text) == profile
    assert "hamlet" not in text
    assert "client-" not in text and "therapist-" not in text
    assert set(profile["features"]) == {"age", "no_shows", "srs_total_last", "site", "program"}
    assert not set(profile["features"]) & {"therapist_id", *HISTORY_FEATURES}
    site = profile["features"]["site"]
    assert set(site["categories"]) == set(SITES)
    assert site["other"] == pytest.approx(3 / 2000)
    # every stored share stands for at least min_cell rows (or none at all)
    for name, entry in profile["features"].items():
        present = profile["n_rows"] * (1 - entry["missing"])
        shares = entry.get("shares") or list(entry.get("categories", {}).values())
        for share in shares:
            assert share == 0 or share * present >= 10 - 1e-6, name
    # the continuous feature keeps neither its minimum nor its maximum
    edges = profile["features"]["age"]["edges"]
    assert rows["age"].min() < edges[0] and edges[-1] < rows["age"].max()
    assert profile["version"] == 1 and profile["n_rows"] == 2000 and profile["bins"] == 10


def test_continuous_feature_gets_deciles():
    entry = fit_profile(_rows(1000, 4))["features"]["age"]
    assert len(entry["edges"]) == 9
    assert entry["shares"] == pytest.approx([0.1] * 10)
    assert entry["missing"] == 0.0


def test_count_feature_gets_one_bin_per_value_and_rare_values_are_merged():
    values = [0.0] * 40 + [1.0] * 25 + [2.0] * 12 + [5.0] * 3
    entry = fit_profile(pd.DataFrame({"no_shows": values}))["features"]["no_shows"]
    # the 3 rows with 5 no-shows are the top bin, too small: it takes in the 2s below it,
    # so neither 5 nor 2 is stored
    assert entry["edges"] == [0.0, 1.0]
    assert entry["shares"] == pytest.approx([40 / 80, 25 / 80, 15 / 80])


def test_a_rare_value_between_common_ones_is_not_stored():
    values = [0.0] * 40 + [1.0] * 3 + [2.0] * 40
    entry = fit_profile(pd.DataFrame({"no_shows": values}))["features"]["no_shows"]
    assert entry["edges"] == [0.0, 2.0]
    # the empty bin above the largest value catches values never seen in training
    assert entry["shares"] == pytest.approx([40 / 83, 43 / 83, 0.0])


def test_the_largest_value_is_stored_only_when_enough_rows_share_it():
    values = [0.0] * 40 + [1.0] * 3 + [2.0] * 8
    entry = fit_profile(pd.DataFrame({"no_shows": values}))["features"]["no_shows"]
    # the 1s join the 2s; that bin holds 11 rows but only 8 share the maximum
    assert entry["edges"] == [0.0]
    assert entry["shares"] == pytest.approx([40 / 51, 11 / 51], abs=1e-6)  # stored to 6 places


def test_a_feature_with_too_few_values_keeps_only_its_missing_share():
    rows = pd.DataFrame({"age": [30.0 + i for i in range(15)] + [np.nan] * 5})
    assert fit_profile(rows, min_cell=10)["features"]["age"] == {
        "kind": "numeric",
        "missing": 0.25,
    }
    assert fit_profile(rows.iloc[:9], min_cell=10)["features"] == {}


def test_fit_profile_rejects_a_nonsense_setting():
    with pytest.raises(ValueError, match="bins >= 2"):
        fit_profile(_rows(100, 0), bins=1)
