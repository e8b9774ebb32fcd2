"""Tests of the synthetic clinics: named profiles, the per-episode simulation state and
the truth and ceiling for the caseload open at the export."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from configs.config import load_config
from pipeline.cli import app
from pipeline.contract.validation import validate_tables
from pipeline.io.ingest import read_table
from pipeline.synthetic import simulate as synth
from pipeline.synthetic.simulate import (
    PROFILES,
    ClinicProfile,
    ClinicSite,
    SyntheticClinic,
    generate_clinic,
    generate_cohort,
)

EXTRACTION = "2026-06-30"
SRS_ITEMS = [f"srs_{j}" for j in range(1, 5)]
WAI_ITEMS = [f"wai_{i}" for i in range(1, 13)]
TRUTH_COLUMNS = [
    "client_id",
    "outcome",
    "discharge_date",
    "dropout_within_horizon",
    "p_dropout",
    "p_dropout_within_horizon",
]
# sha256 of clients.to_csv() then sessions.to_csv() (index=False) for n=300, seed 3,
# computed with the generator as it was before profiles existed.
ORIGINAL_FINGERPRINT = "6794a0eae30ff81433d1f24d754b09aacedcdada76790911c8f43ac655b7e8e7"


@pytest.fixture(scope="module")
def instruments():
    return load_config().instruments


def _fingerprint(clients: pd.DataFrame, sessions: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(clients.to_csv(index=False).encode())
    digest.update(sessions.to_csv(index=False).encode())
    return digest.hexdigest()


def _with_site(sessions: pd.DataFrame, clients: pd.DataFrame) -> pd.DataFrame:
    return sessions.merge(clients[["client_id", "site"]], on="client_id")


# ---------------------------------------------------------------- default = original


@pytest.mark.parametrize("profile", [None, PROFILES["default"]])
def test_default_profile_reproduces_the_original_cohort(instruments, profile):
    clients, sessions = generate_cohort(300, 3, instruments, profile=profile)
    assert _fingerprint(clients, sessions) == ORIGINAL_FINGERPRINT


def test_explicit_window_of_913_days_is_the_default(instruments):
    clients, sessions = generate_cohort(300, 3, instruments, intake_window_days=913)
    assert _fingerprint(clients, sessions) == ORIGINAL_FINGERPRINT


def test_window_argument_wins_over_the_profile(instruments):
    profile = PROFILES["long_courses"]
    a = generate_cohort(400, 2, instruments, intake_window_days=913, profile=profile)
    b = generate_cohort(
        400, 2, instruments, profile=dataclasses.replace(profile, intake_window_days=913)
    )
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])


# ---------------------------------------------------------------- every profile is valid


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


# ---------------------------------------------------------------- knobs


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


# ---------------------------------------------------------------- per-episode state


def test_export_state_is_each_episodes_own(instruments):
    # The state copied at the export knows each open episode's own appointment index:
    # one appointment per step, so it equals the appointments the export shows, and the
    # next appointment is booked after the extraction date.
    cohort = synth._generate(
        1200, 21, instruments, EXTRACTION, None, PROFILES["fortnightly_sud"], snapshot=True
    )
    snap = cohort.snapshot
    assert snap.index.size and np.unique(snap.index).size == snap.index.size
    ids = cohort.client_ids[snap.index]
    shown = cohort.sessions.groupby("client_id").size().reindex(ids).fillna(0).to_numpy()
    np.testing.assert_array_equal(snap.episodes.appt, shown)
    assert np.unique(snap.episodes.appt).size > 5  # episodes are at different points
    assert (snap.episodes.booked_day > 0).all()
    assert (snap.episodes.last_day <= 0).all()
    assert snap.episodes.alive.all()


# ---------------------------------------------------------------- truth and ceiling


def _long_clinic(instruments) -> SyntheticClinic:
    """A clinic with a large open caseload (~40%), so the truth has many rows."""
    profile = PROFILES["long_courses"]
    return generate_clinic(
        2500, 17, instruments, profile, extraction_date=EXTRACTION, ceiling_draws=120
    )


@pytest.fixture(scope="module")
def clinic(instruments) -> SyntheticClinic:
    return _long_clinic(instruments)


def test_clinic_export_is_generate_cohorts(clinic, instruments):
    clients, sessions = generate_cohort(
        2500, 17, instruments, EXTRACTION, profile=PROFILES["long_courses"]
    )
    pd.testing.assert_frame_equal(clinic.clients, clients)
    pd.testing.assert_frame_equal(clinic.sessions, sessions)


def test_truth_has_exactly_the_active_clients(clinic):
    truth = clinic.truth
    assert list(truth.columns) == TRUTH_COLUMNS
    active = clinic.clients.loc[clinic.clients["discharge_date"].isna(), "client_id"]
    assert truth["client_id"].tolist() == active.tolist()
    assert set(truth["outcome"]) <= {"completed", "dropout", "transferred", "other"}
    assert {"completed", "dropout"} <= set(truth["outcome"])


def test_truth_lies_after_the_export_and_the_horizon_is_consistent(clinic):
    truth = clinic.truth
    end = pd.to_datetime(truth["discharge_date"])
    assert (end > pd.Timestamp(EXTRACTION)).all()
    horizon = pd.Timestamp(EXTRACTION) + pd.Timedelta(days=60)
    expected = truth["outcome"].eq("dropout") & (end <= horizon)
    assert truth["dropout_within_horizon"].dtype == bool
    assert (truth["dropout_within_horizon"] == expected).all()


def test_truth_agrees_with_a_much_later_export(clinic, instruments):
    # The same simulation cut ten years later shows every open episode's end.
    later = synth._generate(
        2500, 17, instruments, EXTRACTION, None, PROFILES["long_courses"], export_day=3650
    )
    ends = later.clients.set_index("client_id").loc[clinic.truth["client_id"]]
    assert ends["discharge_reason"].tolist() == clinic.truth["outcome"].tolist()
    assert ends["discharge_date"].tolist() == clinic.truth["discharge_date"].tolist()

    # A completion (or transfer) with no appointment after the export was settled
    # before it: nothing random is left, so the ceiling must say no dropout, surely.
    future = later.sessions[pd.to_datetime(later.sessions["session_date"]) > EXTRACTION]
    truth = clinic.truth.set_index("client_id")
    settled = truth[~truth.index.isin(future["client_id"]) & truth["outcome"].ne("dropout")]
    assert len(settled) > 5
    assert (settled["p_dropout"] == 0).all()
    assert (settled["p_dropout_within_horizon"] == 0).all()


def test_ceiling_probabilities_are_ordered(clinic):
    p, p_by = clinic.truth["p_dropout"], clinic.truth["p_dropout_within_horizon"]
    assert ((p_by >= 0) & (p_by <= p) & (p <= 1)).all()
    assert p.between(0.05, 0.95).any()


def test_ceiling_is_calibrated_and_discriminates(clinic):
    truth = clinic.truth
    y = truth["outcome"].eq("dropout")
    # Both estimate the open caseload's eventual dropout share; allow 3.5 standard errors
    # of the observed share plus the draws' own noise.
    se = np.sqrt(y.mean() * (1 - y.mean()) / len(y))
    assert abs(truth["p_dropout"].mean() - y.mean()) < 3.5 * se + 0.005
    by = truth["dropout_within_horizon"]
    se_by = np.sqrt(by.mean() * (1 - by.mean()) / len(by))
    assert abs(truth["p_dropout_within_horizon"].mean() - by.mean()) < 3.5 * se_by + 0.005
    assert roc_auc_score(y, truth["p_dropout"]) > 0.75
    assert roc_auc_score(by, truth["p_dropout_within_horizon"]) > 0.75


def test_ceiling_is_reproducible_and_leaves_the_export_alone(clinic, instruments):
    again = _long_clinic(instruments)
    pd.testing.assert_frame_equal(again.truth, clinic.truth)
    fewer = generate_clinic(300, 3, instruments, ceiling_draws=5)
    assert _fingerprint(fewer.clients, fewer.sessions) == ORIGINAL_FINGERPRINT


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"horizon_days": -1}, "horizon_days"), ({"ceiling_draws": 0}, "draws")]
)
def test_bad_clinic_arguments_raise(instruments, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_clinic(50, 1, instruments, **kwargs)


def test_every_profile_has_a_ceiling(instruments):
    for name, profile in PROFILES.items():
        clinic = generate_clinic(
            400, 2, profile.instruments_for(instruments), profile, ceiling_draws=20
        )
        assert len(clinic.truth) == clinic.clients["discharge_date"].isna().sum(), name
        assert clinic.truth["p_dropout"].between(0, 1).all(), name


# ---------------------------------------------------------------- command line

runner = CliRunner()


def _text(result) -> str:
    return " ".join(result.output.split())


def test_synth_unknown_profile_exits_2_and_lists_the_names(tmp_path):
    result = runner.invoke(app, ["synth", "--out", str(tmp_path), "--profile", "nope"])
    assert result.exit_code == 2, result.output
    text = _text(result)
    assert "nope" in text
    for name in PROFILES:
        assert name in text
    assert not (tmp_path / "clients.csv").exists()


def test_synth_help_names_every_profile():
    result = runner.invoke(app, ["synth", "--help"])
    assert result.exit_code == 0
    for name in PROFILES:
        assert name in _text(result)


def test_synth_truth_writes_truth_csv(tmp_path):
    out = tmp_path / "clinic"
    args = ["synth", "--out", str(out), "--n-clients", "300", "--seed", "2", "--truth"]
    result = runner.invoke(app, [*args, "--profile", "long_courses"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["clients.csv", "sessions.csv", "truth.csv"]
    clients = pd.read_csv(out / "clients.csv")
    truth = pd.read_csv(out / "truth.csv")
    assert list(truth.columns) == TRUTH_COLUMNS
    assert (
        truth["client_id"].tolist()
        == clients.loc[clients["discharge_date"].isna(), "client_id"].tolist()
    )
    assert "profile long_courses" in _text(result)


def test_synth_without_truth_writes_the_contract_files_only(tmp_path):
    result = runner.invoke(
        app, ["synth", "--out", str(tmp_path), "--n-clients", "300", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients.csv", "sessions.csv"]
    clients, sessions = generate_cohort(300, 3, load_config().instruments)
    assert (tmp_path / "clients.csv").read_text() == clients.to_csv(index=False)
    assert (tmp_path / "sessions.csv").read_text() == sessions.to_csv(index=False)


def test_synth_wai_s_profile_writes_one_to_seven_and_says_so(tmp_path):
    result = runner.invoke(
        app, ["synth", "--out", str(tmp_path), "--n-clients", "300", "--profile", "wai_s"]
    )
    assert result.exit_code == 0, result.output
    sessions = pd.read_csv(tmp_path / "sessions.csv")
    assert sessions[WAI_ITEMS].max().max() == 7
    assert "instruments:" in _text(result) and "'max': 7" in _text(result)


def test_profile_type_is_exported():
    assert isinstance(PROFILES["default"], ClinicProfile)
