"""Tests of the truth and the ceiling for the caseload open at the export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.synthetic import PROFILES, SyntheticClinic, generate_clinic, generate_cohort
from pipeline.synthetic.export import build_cohort
from tests.pipeline.synthetic.common import (
    EXTRACTION,
    ORIGINAL_FINGERPRINT,
    TRUTH_COLUMNS,
    fingerprint,
)


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
    later = build_cohort(
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
    assert fingerprint(fewer.clients, fewer.sessions) == ORIGINAL_FINGERPRINT


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
