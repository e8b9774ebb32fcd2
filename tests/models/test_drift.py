"""Scored-batch drift: quiet on the same caseload, loud on the moved feature, JSON-able."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from features.drift import cross_sections, fit_profile, reference_dates
from features.labels import active_mask
from features.landmarks import asof_examples, landmark_examples, model_inputs
from features.schema import ROW_FEATURES
from models.drift import compare, feature_label, population_stability, psi_noise_floor
from pipeline.contract.validation import validate_tables
from pipeline.synthetic import generate_cohort
from tests.features.test_drift import _rows


@pytest.fixture(scope="module")
def reference() -> dict:
    return fit_profile(_rows(5000, 0))


def _status(report) -> dict[str, str]:
    return dict(zip(report.table["feature"], report.table["status"], strict=True))


@pytest.fixture(scope="module")
def cohort(config):
    clients, sessions = generate_cohort(1500, 5, config.instruments)
    tables = validate_tables(
        clients, sessions, config.instruments, clients_file="c.csv", sessions_file="s.csv"
    )
    assert tables.issues.empty
    return tables.clients, tables.sessions


def test_a_scored_caseload_resembles_its_cross_sections_not_its_landmarks(cohort, config):
    clients, sessions = cohort
    dates = reference_dates(sessions["session_date"])
    assert len(dates) == 6
    reference = cross_sections(clients, sessions, config.instruments, config.features, dates)
    # the scored batch as `score` builds it, on the latest date
    as_of = sessions["session_date"].max()
    active = clients[active_mask(clients).to_numpy()]
    batch = model_inputs(
        asof_examples(active, sessions, as_of, config.instruments, config.features)
    )
    assert len(batch) >= 100
    report = compare(fit_profile(reference), batch)
    assert report.judged and not report.alarm
    assert report.metrics()["drift_max_psi"] < 0.1
    # the landmark rows (dense early in treatment) are not a caseload: they would cry wolf
    landmarks = landmark_examples(clients, sessions, config.instruments, config.features)
    wrong = compare(fit_profile(model_inputs(landmarks)), batch)
    assert wrong.alarm
    assert "days_in_treatment" in set(wrong.moved()["feature"])


def test_population_stability_index_values():
    assert population_stability([0.5, 0.5], [0.25, 0.75]) == pytest.approx(
        0.25 * math.log(2) + 0.25 * math.log(1.5)
    )
    # an empty reference bin is floored, not infinite
    assert population_stability([0.5, 0.5, 0.0], [0.5, 0.4, 0.1]) == pytest.approx(
        -0.1 * math.log(0.8) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    )
    assert population_stability([0.2, 0.8], [0.2, 0.8]) == 0.0


def test_same_distribution_stays_quiet(reference):
    report = compare(reference, _rows(1000, 1))
    assert report.judged and not report.alarm
    assert set(_status(report).values()) == {"ok"}
    assert report.metrics()["drift_max_psi"] < 0.05
    assert report.moved().empty


@pytest.mark.parametrize(
    ("change", "moved"),
    [
        ({"age_shift": 1.0}, "age"),
        ({"site_p": (0.2, 0.3, 0.5)}, "site"),
        ({"srs_missing": 0.6}, "srs_total_last"),
    ],
)
def test_a_shift_fires_the_alarm_on_exactly_the_moved_feature(reference, change, moved):
    report = compare(reference, _rows(1000, 1, **change))
    assert report.alarm
    status = _status(report)
    assert status.pop(moved) == "alarm"
    assert set(status.values()) == {"ok"}
    assert report.table.iloc[0]["feature"] == moved  # most severe first
    assert report.moved()["feature"].tolist() == [moved]


def test_a_missing_rate_jump_is_reported_in_words(reference):
    report = compare(reference, _rows(1000, 1, srs_missing=0.6))
    row = report.table.set_index("feature").loc["srs_total_last"]
    assert row["missing_reference"] == pytest.approx(0.1)
    assert row["missing_now"] == pytest.approx(0.6)
    sentence = report.describe("srs_total_last")
    assert sentence == (
        f"SRS total (latest rating): distribution shifted (PSI {row['psi']:.2f}); "
        "missing in 60% of clients vs 10% in training"
    )


def test_missing_change_alone_raises_the_alarm(reference):
    # 10% → 35% missing: PSI under the alarm level, but the missing share moved by 0.25
    report = compare(reference, _rows(1000, 1, srs_missing=0.35), psi_alarm=5.0)
    row = report.table.set_index("feature").loc["srs_total_last"]
    assert row["psi"] < 5.0
    assert row["status"] == "alarm"
    loose = compare(reference, _rows(1000, 1, srs_missing=0.35), psi_alarm=5.0, missing_alarm=0.3)
    assert _status(loose)["srs_total_last"] == "moved"


def test_a_small_shift_is_moved_not_alarm(reference):
    report = compare(reference, _rows(1000, 1, age_shift=0.4))
    row = report.table.set_index("feature").loc["age"]
    assert 0.1 <= row["psi"] < 0.25
    assert row["status"] == "moved"
    assert not report.alarm
    assert report.describe(report.table.iloc[0]) == (
        f"Age: distribution moved a little (PSI {row['psi']:.2f})"
    )


def test_values_on_an_edge_fall_in_the_bin_below_as_at_fit_time():
    rows = pd.DataFrame({"no_shows": [0.0] * 40 + [1.0] * 40 + [2.0] * 40})
    profile = fit_profile(rows)
    assert profile["features"]["no_shows"]["edges"] == [0.0, 1.0, 2.0]
    # the same rows again: nothing moved
    assert compare(profile, rows, min_rows=1).table["psi"].iloc[0] == pytest.approx(0, abs=1e-9)
    # every client now has exactly 1 no-show: all in the bin (0, 1]
    report = compare(profile, pd.DataFrame({"no_shows": [1.0] * 100}))
    expected = population_stability([1 / 3, 1 / 3, 1 / 3, 0, 0], [0, 1, 0, 0, 0])
    assert report.table["psi"].iloc[0] == pytest.approx(expected, rel=1e-5)


def test_a_value_never_seen_in_training_stands_out():
    rows = pd.DataFrame({"missed_first_appointment": [0.0] * 200})
    profile = fit_profile(rows)
    same = compare(profile, pd.DataFrame({"missed_first_appointment": [0.0] * 100}))
    assert _status(same) == {"missed_first_appointment": "ok"}
    new = compare(profile, pd.DataFrame({"missed_first_appointment": [0.0] * 70 + [1.0] * 30}))
    assert _status(new) == {"missed_first_appointment": "alarm"}


def test_a_feature_all_missing_in_training_is_judged_on_its_missing_share():
    rows = pd.DataFrame({"ors_last": [np.nan] * 500, "age": np.linspace(20, 60, 500)})
    profile = fit_profile(rows)
    assert profile["features"]["ors_last"] == {"kind": "numeric", "missing": 1.0}
    still = compare(profile, rows.iloc[:200])
    assert _status(still)["ors_last"] == "ok"
    assert still.table.set_index("feature").loc["ors_last", "psi"] == 0.0
    half = rows.iloc[:200].assign(ors_last=[25.0] * 100 + [np.nan] * 100)
    report = compare(profile, half)
    row = report.table.set_index("feature").loc["ors_last"]
    assert row["status"] == "alarm" and row["missing_now"] == 0.5
    assert report.describe(row) == (
        f"ORS total (latest rating): distribution shifted (PSI {row['psi']:.2f}); "
        "missing in 50% of clients vs 100% in training"
    )


def test_unseen_and_rare_categories_go_to_other(reference):
    batch = _rows(1000, 1)
    batch.loc[:299, "site"] = "west"  # never seen in training
    report = compare(reference, batch)
    assert _status(report)["site"] == "alarm"
    # the "other" bin held no training rows, so its floored share drives the PSI
    site = reference["features"]["site"]
    assert site["other"] == 0.0
    assert report.table.set_index("feature").loc["site", "psi"] > 1.0
    # a category too rare to be named in training is compared as "other" too
    rows = _rows(2000, 3)
    rows.loc[:4, "site"] = "hamlet"
    profile = fit_profile(rows)
    later = _rows(1000, 5)
    later.loc[:2, "site"] = "hamlet"
    assert _status(compare(profile, later))["site"] == "ok"


def test_a_feature_not_in_the_profile_is_not_judged(reference):
    batch = _rows(1000, 1).assign(plan_progress=0.5)
    report = compare(reference, batch)
    row = report.table.set_index("feature").loc["plan_progress"]
    assert row["status"] == "not judged" and math.isnan(row["missing_reference"])
    assert report.table.iloc[-1]["feature"] == "plan_progress"  # least severe last
    assert report.describe("plan_progress") == (
        "Share of the planned sessions attended: not judged "
        "(too little training data to summarise it)"
    )


@pytest.mark.parametrize("n", [0, 40, 99])
def test_a_tiny_batch_is_not_judged(reference, n):
    report = compare(reference, _rows(1000, 1, age_shift=3.0).iloc[:n])
    assert not report.judged and not report.alarm
    assert set(report.table["status"]) == {"not judged"}
    assert report.note == (
        f"Not judged: the batch has {n} rows and drift is judged from 100 rows "
        "(the PSI of a smaller batch is mostly noise)."
    )
    metrics = report.metrics()
    assert metrics["drift_judged"] == 0.0 and metrics["drift_rows"] == n
    assert math.isnan(metrics["drift_max_psi"]) and metrics["drift_features_alarm"] == 0
    assert report.describe("age") == "Age: not judged (too few clients in this batch)"
    json.dumps(report.to_dict(), allow_nan=False)


def test_small_batches_from_the_same_caseload_do_not_raise_alarms(reference):
    """At 100 rows sampling alone gives PSI near 0.1 per feature; the noise floor absorbs it."""
    alarms = [compare(reference, _rows(100, 100 + s)).alarm for s in range(30)]
    assert not any(alarms)
    # while a real shift in a batch of the same size still fires
    assert compare(reference, _rows(100, 7, age_shift=1.5)).alarm


def test_the_noise_floor_shrinks_with_the_batch():
    from models.drift import psi_noise_floor

    small, large = psi_noise_floor(11, 100, 10_000, 0.001), psi_noise_floor(11, 2000, 10_000, 0.001)
    assert small > 0.25 > large > 0.01
    assert psi_noise_floor(1, 100, 100, 0.001) == math.inf


def test_report_table_metrics_and_dict(reference):
    batch = _rows(1000, 1, age_shift=1.0, site_p=(0.35, 0.3, 0.35), srs_missing=0.12)
    batch = batch.assign(plan_progress=0.5)
    report = compare(reference, batch)
    table = report.table
    assert list(table.columns) == [
        "feature",
        "family",
        "psi",
        "psi_noise",
        "missing_reference",
        "missing_now",
        "status",
    ]
    assert table["status"].tolist() == ["alarm", "moved", "ok", "ok", "ok", "not judged"]
    assert table["feature"].tolist()[:2] == ["age", "site"]
    ok = table[table["status"] == "ok"]["psi"]
    assert ok.is_monotonic_decreasing
    assert table.set_index("feature").loc["age", "family"] == "intake"
    metrics = report.metrics()
    assert metrics == {
        "drift_rows": 1000.0,
        "drift_reference_rows": 5000.0,
        "drift_judged": 1.0,
        "drift_alarm": 1.0,
        "drift_max_psi": pytest.approx(table["psi"].iloc[0]),
        "drift_features_moved": 2.0,
        "drift_features_alarm": 1.0,
    }
    assert (
        report.note == "1000 rows compared with 5000 reference rows: 1 feature in alarm, 1 moved."
    )
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["alarm"] is True and data["n_reference"] == 5000
    assert data["features"][-1] == {
        "feature": "plan_progress",
        "family": "attendance",
        "psi": None,
        "psi_noise": None,
        "missing_reference": None,
        "missing_now": None,
        "status": "not judged",
    }
    assert report.describe(table.iloc[2]).endswith(
        f"similar to training (PSI {table['psi'].iloc[2]:.2f})"
    )


def test_a_profile_read_back_from_json_compares_the_same(reference):
    batch = _rows(1000, 1, age_shift=0.5)
    again = compare(json.loads(json.dumps(reference)), batch)
    pd.testing.assert_frame_equal(again.table, compare(reference, batch).table)


def test_an_unknown_profile_version_is_refused(reference):
    with pytest.raises(ValueError, match="version 99 is not supported.*Fix: retrain"):
        compare({**reference, "version": 99}, _rows(200, 1))


def test_every_row_feature_has_a_readable_name():
    assert feature_label("srs_total_last") == "SRS total (latest rating)"
    assert feature_label("wai_bond_unrepaired") == "Bond rating (unresolved drop)"
    assert feature_label("some_new_column") == "some_new_column"
    assert all(feature_label(f) != f for f in ROW_FEATURES)


@pytest.mark.parametrize("n_bins", [2, 3, 6, 11, 21])
@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.05, 0.5])
def test_the_noise_floor_is_the_chi_square_quantile_over_the_effective_size(n_bins, alpha):
    from scipy.stats import chi2

    effective = 1.0 / (1.0 / 300 + 1.0 / 5000)
    expected = chi2.isf(alpha, n_bins - 1) / effective
    assert psi_noise_floor(n_bins, 300, 5000, alpha) == pytest.approx(expected, rel=1e-12)
