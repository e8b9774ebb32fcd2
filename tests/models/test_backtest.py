"""The caseload back-test: past caseloads as an export would have shown them, scored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs.settings import FeatureSettings
from features.labels import endings_of
from features.landmarks import build_examples
from models.backtest import (
    backtest_dates,
    backtest_predictions,
    caseload_metrics,
    caseload_on,
    pooled,
    target_frame,
)
from models.training import develop, targets
from pipeline.contract.validation import validate_tables
from pipeline.synthetic import generate_cohort


@pytest.fixture(scope="module")
def tables(config):
    clients, sessions = generate_cohort(700, 17, config.instruments)
    return validate_tables(
        clients, sessions, config.instruments, clients_file="c.csv", sessions_file="s.csv"
    )


@pytest.fixture(scope="module")
def model(tables, config):
    examples, _, _ = build_examples(tables, config)
    training = config.training.model_copy(update={"cv_folds": 2})
    fixed = ("logistic", {"C": 0.5})
    return develop(
        examples, training, FeatureSettings.from_config(config).to_dict(), fixed=fixed
    ).model


def test_the_dates_leave_the_horizon_and_the_follow_up_before_the_export():
    export = pd.Timestamp("2026-06-30")
    dates = backtest_dates(
        export, n_dates=3, spacing_days=30, min_follow_up_days=90, horizon_days=60
    )
    assert dates == [pd.Timestamp(d) for d in ("2026-01-31", "2026-03-02", "2026-04-01")]
    longer = backtest_dates(
        export, n_dates=1, spacing_days=30, min_follow_up_days=30, horizon_days=60
    )
    assert longer == [export - pd.Timedelta(days=60)]
    assert backtest_dates(
        export, n_dates=4, spacing_days=30, min_follow_up_days=90, horizon_days=60,
        earliest=pd.Timestamp("2026-03-01"),
    ) == dates[1:]  # fmt: skip


def test_the_caseload_of_a_date_holds_nothing_recorded_after_it(tables):
    date = tables.sessions["session_date"].max() - pd.Timedelta(days=120)
    clients, sessions = caseload_on(tables.clients, tables.sessions, date)
    assert len(clients) > 50
    assert (clients["intake_date"] <= date).all()
    assert clients["discharge_date"].isna().all() and clients["discharge_reason"].isna().all()
    assert (sessions["session_date"] <= date).all()
    assert set(sessions["client_id"]) <= set(clients["client_id"])
    # every episode open that day is there, and none that had closed
    truly = tables.clients[
        (tables.clients["intake_date"] <= date)
        & (tables.clients["discharge_date"].isna() | (tables.clients["discharge_date"] > date))
    ]
    assert set(clients["client_id"]) == set(truly["client_id"])


def test_the_risks_use_nothing_recorded_after_the_date(tables, model, config):
    exported = tables.sessions["session_date"].max()
    date = exported - pd.Timedelta(days=150)
    endings = endings_of(tables, config)
    args = (config.instruments, config.features)
    before = backtest_predictions(
        model, tables.clients, tables.sessions, endings, [date], exported, *args
    )
    # rewrite the future: every later appointment a no-show with the worst ratings, and
    # every episode's outcome flipped; the risks as of the date must not move
    later = tables.sessions["session_date"] > date
    sessions = tables.sessions.copy()
    sessions.loc[later, "status"] = "no_show"
    for col in ("wai_bond", "wai_goal", "wai_task", "srs_total", "ors_total"):
        if col in sessions:
            sessions.loc[later, col] = 1.0
    clients = tables.clients.copy()
    flip = {"dropout": "completed", "completed": "dropout"}
    clients["discharge_reason"] = clients["discharge_reason"].map(lambda r: flip.get(r, r))
    after = backtest_predictions(model, clients, sessions, endings, [date], exported, *args)
    pd.testing.assert_frame_equal(
        before[["client_id", "risk", "risk_within_horizon"]],
        after[["client_id", "risk", "risk_within_horizon"]],
    )
    assert len(before) > 50


def test_risk_within_horizon_never_exceeds_risk(tables, model, config):
    exported = tables.sessions["session_date"].max()
    dates = [exported - pd.Timedelta(days=d) for d in (90, 200, 400)]
    rows = backtest_predictions(
        model, tables.clients, tables.sessions, endings_of(tables, config), dates, exported,
        config.instruments, config.features,
    )  # fmt: skip
    assert len(rows) > 100
    assert (rows["risk_within_horizon"] <= rows["risk"]).all()
    assert (rows["risk_within_horizon"] > 0).all()


def test_calibrated_risks_score_as_calibrated_with_censoring():
    rng = np.random.default_rng(1)
    n = 6000
    risk = rng.uniform(0.05, 0.6, n)
    dropout = rng.random(n) < risk
    # dropouts end sooner; every end lies within the longest follow-up (330 days)
    end = np.where(dropout, rng.uniform(0, 100, n), rng.uniform(0, 320, n))
    dates = rng.choice(pd.date_range("2025-01-01", periods=6, freq="30D"), n)
    follow = (pd.Timestamp("2026-01-01") - pd.DatetimeIndex(dates)).days.to_numpy(float)
    frame = pd.DataFrame(
        {
            "date": dates,
            "client_id": [f"c{i}" for i in range(n)],
            "risk": risk,
            "risk_within_horizon": risk * 0.5,
            "outcome": np.where(end <= follow, dropout.astype(float), np.nan),
            "event_days": np.where(end <= follow, end, np.nan),
            "follow_up_days": follow,
        }
    )
    metrics = caseload_metrics(frame, 60, n_boot=50, seed=0)
    figures = pooled(metrics, "risk")
    assert figures["calibration_in_the_large"] == pytest.approx(0, abs=0.02)
    assert figures["cal_slope"] == pytest.approx(1, abs=0.12)
    assert figures["auroc_ci_low"] < figures["auroc"] < figures["auroc_ci_high"]
    days = pd.DatetimeIndex(np.unique(dates))
    assert set(metrics["date"]) == {"pooled", *(f"{d:%Y-%m-%d}" for d in days)}
    # dropping the open episodes instead would have over-stated the observed rate
    seen = frame["outcome"].notna()
    naive = frame.loc[seen, "outcome"].mean() - frame.loc[seen, "risk"].mean()
    assert naive > 0.015 > abs(figures["calibration_in_the_large"])
    # no weight of the back-test depends on how an episode ended
    flipped = frame.assign(outcome=1 - frame["outcome"])
    w = target_frame(frame, 60)["risk"]["w"]
    pd.testing.assert_series_equal(w, target_frame(flipped, 60)["risk"]["w"])


def test_training_weights_do_not_depend_on_how_an_episode_ended(tables, config):
    examples, _, _ = build_examples(tables, config)
    clients = tables.clients.copy()
    flip = {"dropout": "completed", "completed": "dropout"}
    clients["discharge_reason"] = clients["discharge_reason"].map(lambda r: flip.get(r, r))
    flipped, _, _ = build_examples(
        tables.__class__(**{**tables.__dict__, "clients": clients}), config
    )
    a, b = targets(examples, 60), targets(flipped, 60)
    np.testing.assert_array_equal(a.w, b.w)
    np.testing.assert_array_equal(a.w_horizon, b.w_horizon)
    assert (a.y != b.y).any()
    # open episodes are used: their examples followed past the horizon count for it
    open_rows = examples["event_days"].isna().to_numpy()
    assert open_rows.any() and (a.w_horizon[open_rows] > 0).any()
    assert (a.w[open_rows] == 0).all()


def test_the_latest_date_waits_until_most_of_its_caseload_has_ended():
    export = pd.Timestamp("2026-06-30")
    intake = pd.date_range(export - pd.Timedelta(days=730), export, freq="D")
    discharge = intake + pd.Timedelta(days=100)  # every episode lasts 100 days
    clients = pd.DataFrame(
        {"intake_date": intake, "discharge_date": discharge.where(discharge <= export)}
    )
    args = {"n_dates": 2, "spacing_days": 30, "min_follow_up_days": 90, "horizon_days": 60}
    # 90 days back, 90% of that day's caseload has ended (intakes up to day 100 before)
    assert backtest_dates(export, **args, clients=clients, min_ended_share=0.9)[-1] == (
        export - pd.Timedelta(days=90)
    )
    # asking for 95% moves the dates a month further back, where all of it has ended
    later = backtest_dates(export, **args, clients=clients, min_ended_share=0.95)
    assert later == [export - pd.Timedelta(days=d) for d in (150, 120)]
    # a history too young to reach the share takes the date that comes closest
    young = clients[clients["intake_date"] >= export - pd.Timedelta(days=120)]
    dates = backtest_dates(
        export, **args, clients=young, min_ended_share=0.99,
        earliest=young["intake_date"].min(),
    )  # fmt: skip
    assert dates and dates[-1] >= young["intake_date"].min()


def test_the_crossfit_scores_every_development_client_once_with_a_model_not_fitted_on_it(
    tables, model, config, monkeypatch
):
    from types import SimpleNamespace

    import models.training as training
    from models.backtest import _crossfit_models

    examples, _, _ = build_examples(tables, config)
    ids = np.sort(examples["client_id"].unique())
    held = ids[::5]
    fitted_on = []
    real = training.develop

    def spy(dev_examples, *args, **kwargs):
        fitted_on.append(set(dev_examples["client_id"]))
        return real(dev_examples, *args, **kwargs)

    monkeypatch.setattr(training, "develop", spy)
    result = SimpleNamespace(
        model=model, test_clients=held, selected="logistic", selected_params={"C": 0.5}
    )
    training_config = config.model_copy(
        update={"training": config.training.model_copy(update={"cv_folds": 2})}
    )
    models = _crossfit_models(result, examples, training_config, None, 3)
    assert len(models) == 3 == len(fitted_on)
    scored = [set(clients) for _, clients, _ in models]
    # the folds partition the development clients; none of them is a held-out client
    assert set().union(*scored) == set(ids) - set(held)
    assert sum(len(s) for s in scored) == len(ids) - len(held)
    for fit, fold, (_, _, left_out) in zip(fitted_on, scored, models, strict=True):
        assert not fit & fold and not fit & set(held)
        assert set(left_out) == fold | set(held)
