"""The notebook-model baseline: training rows, as-of predictions, robustness, a sanity floor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from features.aggregates import AGGREGATE_FEATURES, client_aggregates
from features.labels import episode_labels
from models.notebook import NotebookModel
from pipeline.contract.validation import validate_tables
from pipeline.synthetic import generate_cohort
from tests.conftest import make_clients, make_sessions


@pytest.fixture(scope="module", autouse=True)
def _one_openmp_thread():
    # on a shared, busy machine every OpenMP region of the booster (one per tree at
    # prediction) waits for a free core; one thread keeps these small fits quick
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def _cohort(n: int, seed: int, instruments) -> tuple[pd.DataFrame, pd.DataFrame]:
    clients, sessions = generate_cohort(n, seed, instruments)
    tables = validate_tables(
        clients, sessions, instruments, clients_file="c.csv", sessions_file="s.csv"
    )
    assert tables.issues.empty
    return tables.clients, tables.sessions


@pytest.fixture(scope="module")
def split(config):
    """~3000 episodes: two thirds to train on, one third of clients held out."""
    clients, sessions = _cohort(3000, 13, config.instruments)
    held_out = np.random.default_rng(0).random(len(clients)) < 1 / 3
    train_ids = clients["client_id"][~held_out]
    return {
        "train": clients[~held_out],
        "train_sessions": sessions[sessions["client_id"].isin(train_ids)],
        "test": clients[held_out],
        "sessions": sessions,
    }


@pytest.fixture(scope="module")
def fitted(split, config):
    return NotebookModel(seed=3).fit(split["train"], split["train_sessions"], config.instruments)


@pytest.fixture(scope="module")
def small(config):
    return _cohort(500, 17, config.instruments)


def test_training_rows_are_the_first_eight_appointments_of_closed_labelled_episodes(fitted, split):
    clients, sessions = split["train"], split["train_sessions"]
    labels = episode_labels(clients).dropna()
    per_client = sessions.groupby("client_id").size()
    expected = per_client.reindex(labels.index).fillna(0).clip(upper=8)
    # transferred, other and active episodes are not trained on
    assert fitted.n_training_rows_ == int(expected.sum())
    assert fitted.n_training_episodes_ == int((expected > 0).sum())
    assert fitted.n_training_episodes_ < len(clients)
    assert fitted.classes_.tolist() == [0, 1]
    assert fitted.estimator_.n_iter_ == 300  # fixed, no early stopping
    assert fitted.get_feature_names_out().tolist() == list(AGGREGATE_FEATURES)


def test_held_out_auroc_as_of_is_clearly_above_chance(fitted, split, config):
    test, sessions = split["test"], split["sessions"]
    labels = episode_labels(test).dropna()
    by_id = test.set_index("client_id")
    risks, outcomes = [], []
    # month ends over two years: many caseloads, so the figure is not one day's noise
    for as_of in pd.date_range("2024-03-31", "2026-03-31", freq="ME"):
        risk = fitted.predict_asof(test, sessions, as_of, config.instruments)
        # the caseload on that day: open then, outcome known now
        open_then = (by_id["intake_date"] <= as_of) & ~(by_id["discharge_date"] <= as_of)
        keep = risk.index.isin(by_id.index[open_then]) & risk.index.isin(labels.index)
        risks.append(risk[keep])
        outcomes.append(labels.reindex(risk.index[keep]))
    risk, outcome = pd.concat(risks), pd.concat(outcomes)
    assert len(risk) > 1000 and outcome.nunique() == 2
    assert roc_auc_score(outcome, risk) > 0.65
    assert risk.between(0, 1).all()


def test_fit_and_predict_are_reproducible_for_a_seed(small, config):
    clients, sessions = small
    first = NotebookModel(seed=5).fit(clients, sessions, config.instruments)
    second = clone(first).fit(clients, sessions, config.instruments)
    as_of = sessions["session_date"].quantile(0.8)
    pd.testing.assert_series_equal(
        first.predict_asof(clients, sessions, as_of, config.instruments),
        second.predict_asof(clients, sessions, as_of, config.instruments),
    )


def test_predict_asof_ignores_sessions_after_the_date(fitted, split, config):
    test, sessions = split["test"], split["sessions"]
    as_of = pd.Timestamp("2025-03-31")
    known = sessions[sessions["session_date"] <= as_of]
    everything = fitted.predict_asof(test, sessions, as_of, config.instruments)
    pd.testing.assert_series_equal(
        everything, fitted.predict_asof(test, known, as_of, config.instruments)
    )
    # exactly the clients with an appointment by then, in the order of the clients table
    with_appointment = test["client_id"][test["client_id"].isin(known["client_id"])]
    assert everything.index.tolist() == with_appointment.tolist()
    assert everything.name == "risk" and everything.index.name == "client_id"


def test_the_risk_at_a_date_uses_that_date_for_the_time_since_last_attended(fitted, config):
    clients = make_clients({"client_id": "A"})
    sessions = make_sessions("A", "2026-01-12", ["attended", "attended"], srs_total=[35, 36])
    soon = fitted.predict_asof(clients, sessions, "2026-01-20", config.instruments)
    rows = client_aggregates(
        clients,
        sessions,
        config.instruments,
        cutoffs=pd.DataFrame({"client_id": ["A"], "cutoff_date": [pd.Timestamp("2026-01-20")]}),
    )
    assert rows.loc[0, "days_since_last_attended"] == 1
    assert soon.loc["A"] == pytest.approx(fitted.predict_rows(rows)[0])
    # before the first appointment the client is not scored
    assert fitted.predict_asof(clients, sessions, "2026-01-11", config.instruments).empty


def test_unseen_therapist_and_site_are_treated_as_missing(fitted, config):
    sessions = make_sessions("A", "2026-01-12", ["attended", "no_show"], srs_total=[33, None])
    unseen = make_clients({"client_id": "A", "therapist_id": "T-new", "site": "mars"})
    blank = make_clients({"client_id": "A", "therapist_id": None, "site": None})
    risk = fitted.predict_asof(unseen, sessions, "2026-01-20", config.instruments)
    assert np.isfinite(risk.loc["A"])
    assert (
        risk.loc["A"]
        == fitted.predict_asof(blank, sessions, "2026-01-20", config.instruments).loc["A"]
    )


def test_predict_rows_needs_the_aggregate_columns_and_a_fitted_model(fitted, config):
    with pytest.raises(ValueError, match="aggregates lack the column"):
        fitted.predict_rows(pd.DataFrame({"scheduled": [1.0]}))
    assert fitted.predict_rows(pd.DataFrame(columns=list(AGGREGATE_FEATURES))).shape == (0,)
    with pytest.raises(NotFittedError):
        NotebookModel().predict_rows(pd.DataFrame(columns=list(AGGREGATE_FEATURES)))


def test_fit_refuses_a_history_with_one_outcome(config):
    clients = make_clients(
        {"client_id": "A", "discharge_reason": "completed", "discharge_date": "2026-03-01"},
        {"client_id": "B"},
    )
    sessions = pd.concat(
        [
            make_sessions("A", "2026-01-12", ["attended"] * 3),
            make_sessions("B", "2026-01-12", ["no_show"]),
        ]
    )
    with pytest.raises(ValueError, match="both outcomes"):
        NotebookModel().fit(clients, sessions, config.instruments)


def test_init_only_stores_its_arguments():
    model = NotebookModel(seed=4, max_iter=10)
    assert model.get_params()["seed"] == 4 and model.get_params()["max_iter"] == 10
    assert not hasattr(model, "estimator_")


def test_a_clinic_that_never_collects_a_rating_still_fits(small, config):
    """A clinic on SRS only has every WAI aggregate blank: left out, not a crash."""
    clients, sessions = small
    no_wai = sessions.drop(columns=[c for c in sessions.columns if c.startswith("wai_")])
    model = NotebookModel(seed=0, max_iter=20).fit(clients, no_wai, config.instruments)
    names = model.get_feature_names_out().tolist()
    assert not [n for n in names if n.startswith("wai_")]
    assert "srs_total_last" in names
    risk = model.predict_asof(clients, no_wai, no_wai["session_date"].max(), config.instruments)
    assert len(risk) and risk.between(0, 1).all()
