"""Tests of the synthetic cohort: contract shape, validity, reproducibility and the
effects it must carry (EVIDENCE.md)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from configs.config import Config, default_config_dict
from pipeline.synthetic import generate_cohort, write_cohort
from tests.contract import CLIENT_COLUMNS

EXTRACTION = "2026-06-30"
SESSION_COLUMNS = [
    "client_id",
    "session_date",
    "status",
    "therapist_id",
    *[f"wai_{i}" for i in range(1, 13)],
    "wai_bond",
    "wai_goal",
    "wai_task",
    *[f"srs_{i}" for i in range(1, 5)],
    "srs_total",
    "ors_total",
]
WAI_ITEMS = [f"wai_{i}" for i in range(1, 13)]
RATINGS = SESSION_COLUMNS[4:]
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def cohort(instruments):
    return generate_cohort(2000, seed=123, instruments=instruments, extraction_date=EXTRACTION)


def _bond(sessions: pd.DataFrame, instruments) -> pd.Series:
    """Bond subscale per session: mean of its items, or the exported subscale mean."""
    items = [f"wai_{i}" for i in instruments.wai.subscales["bond"]]
    bond = sessions[items].astype(float).mean(axis=1)
    return bond.fillna(sessions["wai_bond"])


def test_columns_match_contract(cohort):
    clients, sessions = cohort
    assert list(clients.columns) == CLIENT_COLUMNS
    assert list(sessions.columns) == SESSION_COLUMNS


def test_reproducible_by_seed(instruments):
    a = generate_cohort(400, seed=5, instruments=instruments)
    b = generate_cohort(400, seed=5, instruments=instruments)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    c = generate_cohort(400, seed=6, instruments=instruments)
    assert not a[0].equals(c[0])
    assert len(a[1]) != len(c[1]) or not a[1].equals(c[1])


def test_ids_and_dates_are_well_formed(cohort):
    clients, sessions = cohort
    assert clients["client_id"].is_unique
    assert clients["client_id"].str.fullmatch(r"C\d{6,}").all()
    assert clients["therapist_id"].str.fullmatch(r"T\d{3,}").all()
    assert sessions["client_id"].isin(clients["client_id"]).all()
    for col in ("intake_date", "discharge_date"):
        assert clients[col].dropna().str.fullmatch(ISO_DATE).all()
    assert sessions["session_date"].str.fullmatch(ISO_DATE).all()
    assert not sessions.duplicated(["client_id", "session_date"]).any()


def test_values_within_contract_ranges(cohort, instruments):
    clients, sessions = cohort
    assert clients["age"].between(12, 100).all()
    assert clients["planned_sessions"].between(1, 200).all()
    assert set(clients["program"]) <= {"outpatient", "intensive_outpatient", "residential"}
    assert set(clients["discharge_reason"].dropna()) <= {
        "completed",
        "dropout",
        "transferred",
        "other",
    }
    assert set(sessions["status"]) == {"attended", "no_show", "late_cancel", "cancelled"}

    wai, srs, ors = instruments.wai, instruments.srs, instruments.ors
    items = sessions[WAI_ITEMS].astype(float).to_numpy()
    seen = items[~np.isnan(items)]
    assert seen.size and np.all((seen >= wai.min) & (seen <= wai.max))
    assert np.all(seen == np.round(seen))
    for col in ("wai_bond", "wai_goal", "wai_task"):
        assert sessions[col].dropna().between(wai.min, wai.max).all()
    for j in range(1, srs.n_items + 1):
        assert sessions[f"srs_{j}"].dropna().between(srs.item_min, srs.item_max).all()
    assert sessions["srs_total"].dropna().between(srs.total_min, srs.total_max).all()
    assert sessions["ors_total"].dropna().between(ors.total_min, ors.total_max).all()

    # srs_total is the sum of the items wherever it is given
    srs_items = sessions[[f"srs_{j}" for j in range(1, 5)]]
    given = sessions["srs_total"].notna()
    np.testing.assert_allclose(
        srs_items[given].sum(axis=1), sessions.loc[given, "srs_total"], atol=1e-6
    )


def test_srs_has_its_ceiling_and_ors_starts_clinical(cohort):
    clients, sessions = cohort
    srs = sessions["srs_total"].dropna()
    assert srs.between(34, 40).mean() > 0.6
    first_ors = sessions.dropna(subset=["ors_total"]).groupby("client_id")["ors_total"].first()
    assert (first_ors < 25).mean() > 0.6


def test_sessions_lie_within_the_episode(cohort):
    clients, sessions = cohort
    merged = sessions.merge(clients, on="client_id", suffixes=("", "_primary"))
    day = pd.to_datetime(merged["session_date"])
    end = pd.to_datetime(merged["discharge_date"]).fillna(pd.Timestamp(EXTRACTION))
    assert (day >= pd.to_datetime(merged["intake_date"])).all()
    assert (day <= end).all()
    assert (day <= pd.Timestamp(EXTRACTION)).all()
    closed = clients.dropna(subset=["discharge_date"])
    assert (pd.to_datetime(closed["discharge_date"]) <= pd.Timestamp(EXTRACTION)).all()
    assert (pd.to_datetime(closed["discharge_date"]) >= pd.to_datetime(closed["intake_date"])).all()


def test_no_ratings_on_missed_appointments(cohort):
    _, sessions = cohort
    missed = sessions[sessions["status"] != "attended"]
    assert len(missed) > 0
    assert missed[RATINGS].isna().all().all()


def test_ratings_are_sometimes_missing_on_attended_sessions(cohort):
    _, sessions = cohort
    attended = sessions[sessions["status"] == "attended"]
    wai_any = attended[WAI_ITEMS + ["wai_bond"]].notna().any(axis=1)
    srs_any = attended["srs_total"].notna()
    assert 0.0 < (~(wai_any | srs_any)).mean() < 0.5


def test_sites_differ_in_what_they_collect(cohort):
    clients, sessions = cohort
    attended = sessions[sessions["status"] == "attended"].merge(
        clients[["client_id", "site"]], on="client_id"
    )
    collected = attended.groupby("site")[["wai_1", "wai_bond", "srs_total", "ors_total"]].agg(
        lambda s: s.notna().any()
    )
    assert 6 <= len(collected) <= 8
    # one site exports only subscale means, never items
    assert ((collected["wai_bond"]) & (~collected["wai_1"])).sum() == 1
    # some sites collect no WAI at all, some no SRS at all
    assert (~collected["wai_1"] & ~collected["wai_bond"]).any()
    assert (~collected["srs_total"]).any()
    assert (collected["wai_1"] & collected["srs_total"]).any()


def test_cover_therapist_differs_from_primary_and_is_rare(cohort):
    clients, sessions = cohort
    covered = sessions.dropna(subset=["therapist_id"]).merge(
        clients[["client_id", "therapist_id", "site"]], on="client_id", suffixes=("", "_primary")
    )
    assert 0 < len(covered) / len(sessions) < 0.08
    assert (covered["therapist_id"] != covered["therapist_id_primary"]).all()
    site_of = clients.drop_duplicates("therapist_id").set_index("therapist_id")["site"]
    assert (covered["therapist_id"].map(site_of) == covered["site"]).all()


def test_active_episodes_exist_with_blank_discharge(cohort):
    clients, _ = cohort
    no_date = clients["discharge_date"].isna()
    no_reason = clients["discharge_reason"].isna()
    assert (no_date == no_reason).all()
    assert 0.08 <= no_date.mean() <= 0.30


def test_dropout_rates_are_plausible(cohort):
    clients, _ = cohort
    closed = clients.dropna(subset=["discharge_reason"])
    dropout = closed["discharge_reason"].eq("dropout")
    assert 0.12 <= dropout.mean() <= 0.45
    psychotherapy = closed["primary_concern"].isin(["depression", "anxiety"])
    # Swift & Greenberg 2012 (~20%) below Lappan et al. 2020 (~30%)
    assert dropout[psychotherapy].mean() < dropout[~psychotherapy].mean()
    assert 0.0 < closed["discharge_reason"].isin(["transferred", "other"]).mean() < 0.12


def test_first_appointment_non_attendance_is_elevated(cohort):
    _, sessions = cohort
    first = sessions.groupby("client_id", sort=False).head(1)
    later = sessions.drop(first.index)
    first_miss = first["status"].eq("no_show").mean()
    assert 0.15 <= first_miss <= 0.40
    assert first_miss > later["status"].eq("no_show").mean()


def test_dropouts_have_trailing_misses_and_completers_attend_their_plan(cohort):
    clients, sessions = cohort
    reason = clients.set_index("client_id")["discharge_reason"]
    last = sessions.groupby("client_id")["status"].last()
    dropout_last = last[reason.reindex(last.index).eq("dropout")]
    assert dropout_last.ne("attended").mean() > 0.8
    attended = sessions[sessions["status"] == "attended"].groupby("client_id").size()
    done = clients[clients["discharge_reason"] == "completed"].set_index("client_id")
    gap = attended.reindex(done.index).fillna(0) - done["planned_sessions"]
    assert gap.abs().max() <= 3


def test_dropouts_rate_the_early_bond_lower(cohort, instruments):
    clients, sessions = cohort
    attended = sessions[sessions["status"] == "attended"].copy()
    attended["bond"] = _bond(attended, instruments)
    early = attended.groupby("client_id").head(3).groupby("client_id")["bond"].mean().dropna()
    reason = clients.set_index("client_id")["discharge_reason"].reindex(early.index)
    dropouts, completers = early[reason == "dropout"], early[reason == "completed"]
    assert len(dropouts) > 30 and len(completers) > 30
    assert dropouts.mean() < completers.mean()
    pooled = np.sqrt((dropouts.var() + completers.var()) / 2)
    # Sharf et al. 2010: d = 0.55; allow sampling noise at this size
    assert 0.25 < (completers.mean() - dropouts.mean()) / pooled < 0.95


def test_configured_instrument_range_is_respected():
    data = default_config_dict()
    data["instruments"]["wai"]["max"] = 7  # WAI-S on 1-7 (Tracey & Kokotovic 1989)
    instruments = Config.model_validate(data).instruments
    _, sessions = generate_cohort(400, seed=9, instruments=instruments)
    seen = sessions[WAI_ITEMS].astype(float).stack().dropna()
    assert seen.between(1, 7).all()
    assert seen.max() > 5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_clients": 0}, "n_clients"), ({"extraction_date": "not-a-date"}, "extraction_date")],
)
def test_bad_arguments_raise(instruments, kwargs, match):
    args = {"n_clients": 10, "seed": 1, "instruments": instruments, **kwargs}
    with pytest.raises(ValueError, match=match):
        generate_cohort(**args)


def test_write_cohort_writes_both_files(tmp_path, instruments):
    out = tmp_path / "nested" / "cohort"
    clients_path, sessions_path = write_cohort(out, 400, 3, instruments)
    assert clients_path == out / "clients.csv"
    assert sessions_path == out / "sessions.csv"
    assert sorted(p.name for p in out.iterdir()) == ["clients.csv", "sessions.csv"]
    clients, sessions = generate_cohort(400, 3, instruments)
    read_clients = pd.read_csv(clients_path)
    read_sessions = pd.read_csv(sessions_path)
    assert len(read_clients) == len(clients)
    assert len(read_sessions) == len(sessions)
    assert list(read_sessions.columns) == SESSION_COLUMNS
    assert read_clients["client_id"].tolist() == clients["client_id"].tolist()
