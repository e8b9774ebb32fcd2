"""Tests of the named clinic profiles: the default reproduces the original cohort, every
profile gives valid tables, and each knob moves what it should."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from pipeline.contract.validation import validate_tables
from pipeline.io.ingest import read_table
from pipeline.synthetic import PROFILES, ClinicProfile, ClinicSite, generate_cohort
from tests.pipeline.synthetic.common import (
    ORIGINAL_FINGERPRINT,
    SRS_ITEMS,
    WAI_ITEMS,
    fingerprint,
)


def _with_site(sessions: pd.DataFrame, clients: pd.DataFrame) -> pd.DataFrame:
    return sessions.merge(clients[["client_id", "site"]], on="client_id")


@pytest.mark.parametrize("profile", [None, PROFILES["default"]])
def test_default_profile_reproduces_the_original_cohort(instruments, profile):
    clients, sessions = generate_cohort(300, 3, instruments, profile=profile)
    assert fingerprint(clients, sessions) == ORIGINAL_FINGERPRINT


def test_explicit_window_of_913_days_is_the_default(instruments):
    clients, sessions = generate_cohort(300, 3, instruments, intake_window_days=913)
    assert fingerprint(clients, sessions) == ORIGINAL_FINGERPRINT


def test_window_argument_wins_over_the_profile(instruments):
    profile = PROFILES["long_courses"]
    a = generate_cohort(400, 2, instruments, intake_window_days=913, profile=profile)
    b = generate_cohort(
        400, 2, instruments, profile=dataclasses.replace(profile, intake_window_days=913)
    )
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_gives_contract_valid_tables(tmp_path, instruments, name):
    profile = PROFILES[name]
    configured = profile.instruments_for(instruments)
    clients, sessions = generate_cohort(600, 13, configured, profile=profile)
    # through files, as a clinic's export reaches the pipeline
    clients.to_csv(tmp_path / "clients.csv", index=False)
    sessions.to_csv(tmp_path / "sessions.csv", index=False)
    tables = validate_tables(
        read_table(tmp_path / "clients.csv", role="clients"),
        read_table(tmp_path / "sessions.csv", role="sessions"),
        configured,
        clients_file="clients.csv",
        sessions_file="sessions.csv",
    )
    assert tables.issues.empty, tables.issues.head(10).to_string()
    assert set(clients["site"]) == {s.name for s in profile.sites}
    assert clients["discharge_date"].isna().any()  # some episodes are open at export


def test_longer_courses_plan_more_sessions(instruments):
    default, _ = generate_cohort(1500, 4, instruments)
    longer, _ = generate_cohort(1500, 4, instruments, profile=PROFILES["long_courses"])
    assert longer["planned_sessions"].between(1, 200).all()
    ratio = longer["planned_sessions"].mean() / default["planned_sessions"].mean()
    assert 1.6 < ratio < 2.0


def test_long_courses_leave_a_large_open_caseload(instruments):
    clients, _ = generate_cohort(4000, 8, instruments, profile=PROFILES["long_courses"])
    assert 0.33 <= clients["discharge_date"].isna().mean() <= 0.47


def test_fortnightly_clinic_books_every_two_weeks(instruments):
    def median_gap(profile):
        _, sessions = generate_cohort(800, 5, instruments, profile=profile)
        days = pd.to_datetime(sessions["session_date"])
        gaps = days.groupby(sessions["client_id"]).diff().dt.days.dropna()
        return gaps.median()

    assert median_gap(None) == 7
    assert median_gap(PROFILES["fortnightly_sud"]) == 14


def test_sites_export_what_their_profile_says(instruments):
    profile = PROFILES["fortnightly_sud"]
    clients, sessions = generate_cohort(1500, 6, instruments, profile=profile)
    rated = _with_site(sessions[sessions["status"] == "attended"], clients)
    for site in profile.sites:
        rows = rated[rated["site"] == site.name]
        has = rows[[*SRS_ITEMS, "srs_total", "ors_total", "wai_1", "wai_bond"]].notna().any()
        assert has["srs_total"] == (site.srs in ("total", "both")), site
        assert has[SRS_ITEMS].any() == (site.srs in ("items", "both")), site
        assert has["ors_total"] == site.ors, site
        assert has["wai_1"] == (site.wai == "items"), site
        assert has["wai_bond"] == (site.wai == "means"), site
    total_only = [s.name for s in profile.sites if s.srs == "total"]
    no_ors = [s.name for s in profile.sites if not s.ors]
    assert total_only and no_ors
    assert rated.loc[rated["site"].isin(total_only), SRS_ITEMS].isna().all().all()
    assert rated.loc[rated["site"].isin(no_ors), "ors_total"].isna().all()


def test_srs_only_brief_has_srs_items_and_no_wai(instruments):
    profile = PROFILES["srs_only_brief"]
    clients, sessions = generate_cohort(800, 6, instruments, profile=profile)
    rated = sessions[sessions["status"] == "attended"]
    assert rated[[*WAI_ITEMS, "wai_bond", "wai_goal", "wai_task"]].isna().all().all()
    assert rated["srs_total"].isna().all()
    assert rated[SRS_ITEMS].notna().any(axis=1).mean() > 0.8
    default, _ = generate_cohort(800, 6, instruments)
    assert clients["planned_sessions"].mean() < 0.7 * default["planned_sessions"].mean()


def test_wai_s_clinic_rates_on_one_to_seven_without_ors(instruments):
    profile = PROFILES["wai_s"]
    configured = profile.instruments_for(instruments)
    assert (configured.wai.min, configured.wai.max) == (1, 7)
    assert profile.config_overrides() == {"instruments": {"wai": {"min": 1, "max": 7}}}
    clients, sessions = generate_cohort(800, 6, configured, profile=profile)
    seen = sessions[WAI_ITEMS].astype(float).stack().dropna()
    assert seen.between(1, 7).all() and seen.max() == 7
    assert sessions["ors_total"].isna().all()
    rated = _with_site(sessions[sessions["status"] == "attended"], clients)
    srs_sites = rated.groupby("site")["srs_total"].apply(lambda s: s.notna().any())
    assert srs_sites.sum() == len(srs_sites) / 2
    assert rated[WAI_ITEMS].notna().any(axis=1).mean() > 0.8


def test_dropout_and_no_show_shifts_move_their_rates(instruments):
    def rates(profile):
        clients, sessions = generate_cohort(3000, 9, instruments, profile=profile)
        closed = clients.dropna(subset=["discharge_reason"])
        first = sessions.groupby("client_id").head(1)
        later = sessions.drop(first.index)
        return (
            closed["discharge_reason"].eq("dropout").mean(),
            first["status"].eq("no_show").mean(),
            later["status"].eq("no_show").mean(),
        )

    default = PROFILES["default"]
    base = rates(default)
    more_dropout = rates(dataclasses.replace(default, dropout_shift=0.6))
    more_no_show = rates(dataclasses.replace(default, no_show_shift=0.6))
    assert more_dropout[0] > base[0] + 0.05
    assert more_no_show[1] > base[1] + 0.05
    assert more_no_show[2] > base[2] + 0.02


def test_therapist_spread_widens_differences_between_therapists(instruments):
    def spread(sd):
        profile = dataclasses.replace(PROFILES["default"], therapist_spread=sd)
        clients, _ = generate_cohort(6000, 10, instruments, profile=profile)
        closed = clients.dropna(subset=["discharge_reason"])
        return (
            closed.groupby("therapist_id")["discharge_reason"]
            .apply(lambda s: s.eq("dropout").mean())
            .std()
        )

    assert spread(1.0) > 1.3 * spread(0.0)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"interval_days": 3}, "interval_days"),
        ({"course_multiplier": 0}, "course_multiplier"),
        ({"therapist_spread": -0.1}, "therapist_spread"),
        ({"sites": ()}, "site"),
        ({"instrument_overrides": {"wai_s": {"max": 7}}}, "unknown instrument"),
    ],
)
def test_bad_profiles_are_refused(change, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(PROFILES["default"], **change)


def test_bad_sites_are_refused():
    with pytest.raises(ValueError, match="srs"):
        ClinicSite("x", 1.0, "items", "yes", True, 0.2, 0.5)


def test_shared_profiles_cannot_be_edited():
    overrides = PROFILES["wai_s"].instrument_overrides
    with pytest.raises(TypeError):
        overrides["wai"]["max"] = 5  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILES["default"].interval_days = 14  # type: ignore[misc]
    assert isinstance(hash(PROFILES["wai_s"]), int)


def test_profile_type_is_exported():
    assert isinstance(PROFILES["default"], ClinicProfile)
