"""Training end to end: tracked, registered, honest, private; then scored from the registry."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.landmarks import model_inputs
from models.caseload import RISK_LIST_COLUMNS
from pipeline.commands.score import run_scoring


def test_training_registers_a_champion_with_metrics(trained):
    outcome = trained["outcome"]
    client = mlflow.MlflowClient(tracking_uri=trained["uri"])
    version = client.get_model_version_by_alias("dropout-risk", "champion")
    assert outcome.model_version == f"dropout-risk v{version.version}"
    run = client.get_run(outcome.run_id)
    for key in (
        "test_auroc",
        "test_auprc",
        "test_brier",
        "test_cal_slope",
        "test_cal_intercept",
        "baseline_intake_only_auroc",
        "baseline_attendance_only_auroc",
        "baseline_alliance_only_auroc",
        "baseline_srs_rule_auroc",
        "test_auroc_gain_over_best_baseline",
        "eval_fairness_auroc_gap",
        "search_configs_evaluated",
        "history_prior_dropout_rate",
        # the headline: the caseload back-test, for risk, risk_within_horizon, the notebook
        "caseload_auroc",
        "caseload_calibration_slope",
        "caseload_calibration_in_the_large",
        "caseload_horizon_auroc",
        "caseload_horizon_calibration_slope",
        "caseload_horizon_calibration_in_the_large",
        "caseload_notebook_auroc",
    ):
        assert key in run.data.metrics, key
    assert 0.5 < run.data.metrics["caseload_auroc"] <= 1
    assert run.data.metrics["caseload_rows"] > 50
    # the temporal check is off by default (the back-test replaces it)
    assert not any(k.startswith("temporal_") for k in run.data.metrics)
    assert run.data.params["selected_candidate"] in (
        "logistic",
        "lightgbm",
        "hist_gradient_boosting",
    )
    # the model learnt something real from process data, beyond intake attributes
    assert run.data.metrics["test_auroc"] > run.data.metrics["baseline_intake_only_auroc"]


def test_model_has_a_signature_and_a_synthetic_input_example(trained):
    info = mlflow.models.get_model_info("models:/dropout-risk@champion")
    assert [p.name for p in info.signature.params.params] == ["as_of"]
    local = mlflow.artifacts.download_artifacts(
        "models:/dropout-risk@champion", dst_path=str(trained["root"] / "example")
    )
    example = mlflow.models.Model.load(local).load_input_example(local)
    frame = example[0] if isinstance(example, tuple) else example
    assert set(frame["table"]) == {"clients", "sessions"}
    assert frame["client_id"].str.startswith("example-client-").all()


def test_each_version_carries_a_model_card_and_its_provenance(trained):
    import hashlib

    outcome = trained["outcome"]
    client = mlflow.MlflowClient(tracking_uri=trained["uri"])
    number = outcome.model_version.rsplit(" v", 1)[1]
    version = client.get_model_version("dropout-risk", number)
    assert version.description.startswith(f"# Model card: dropout-risk version {number}")
    sha = hashlib.sha256(Path(trained["clients"]).read_bytes()).hexdigest()
    assert version.tags["data_fingerprint_clients"] == sha
    assert version.tags["config_hash"] == client.get_run(outcome.run_id).data.params["config_hash"]
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=outcome.run_id, artifact_path="model_card", dst_path=str(trained["root"] / "mc")
        )
    )
    html = (local / "model_card.html").read_text()
    assert "Intended use" in html and sha in html
    card = (local / "model_card.md").read_text()
    # a registry on PostgreSQL holds at most 5,000 characters of description
    assert len(version.description) <= 5000
    assert card == version.description or (
        card.startswith(version.description.split("\n\n… (shortened")[0])
        and "model_card/model_card.md" in version.description
    )
    # the card travels inside the deployable model too
    model_dir = Path(
        mlflow.artifacts.download_artifacts(
            f"models:/dropout-risk/{number}", dst_path=str(trained["root"] / "mcm")
        )
    )
    assert (model_dir / "artifacts" / "model_card.md").read_text() == card


def test_a_long_model_card_is_shortened_at_a_line_for_the_registry():
    from pipeline.registry.registration import version_description

    card = "# Model card\n\n" + "\n".join(f"line {i} " + "x" * 50 for i in range(200))
    short = version_description(card, limit=1000)
    assert len(short) <= 1000 and short.startswith("# Model card")
    kept = short.split("\n\n… (shortened")[0]
    assert card.startswith(kept) and kept.endswith("x")  # cut at a line end
    assert version_description("# short", limit=1000) == "# short"


def test_no_client_id_reaches_params_metrics_tags_or_artifacts(trained):
    ids = pd.read_csv(trained["clients"], dtype=str)["client_id"]
    outcome = trained["outcome"]
    client = mlflow.MlflowClient(tracking_uri=trained["uri"])
    run = client.get_run(outcome.run_id)
    text = json.dumps([run.data.params, run.data.metrics, run.data.tags])
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=outcome.run_id, dst_path=str(trained["root"] / "dl")
        )
    )
    model_dir = Path(
        mlflow.artifacts.download_artifacts(
            "models:/dropout-risk@champion", dst_path=str(trained["root"] / "dlm")
        )
    )
    for path in [*local.rglob("*"), *model_dir.rglob("*")]:
        if path.is_file() and path.suffix in (".json", ".yaml", ".txt", ".csv", ".html", ".md", ""):
            text += path.read_text(errors="ignore")
    sample = ids.sample(200, random_state=0)
    leaked = [cid for cid in sample if cid in text]
    assert not leaked, f"client ids found in MLflow: {leaked[:3]}"


def test_train_then_score_round_trip_from_the_registry(trained, tmp_path):
    out = tmp_path / "risk.csv"
    outcome = run_scoring(trained["clients"], trained["sessions"], out, trained["config"])
    written = pd.read_csv(out, dtype={"client_id": str})
    assert list(written.columns) == RISK_LIST_COLUMNS
    clients = pd.read_csv(trained["clients"], dtype=str)
    active = clients["discharge_reason"].isna() & clients["discharge_date"].isna()
    assert len(written) == int(active.sum())
    assert set(written["client_id"]) == set(clients.loc[active, "client_id"])
    scored = written[written["scored"]]
    assert scored["risk"].between(0, 1).all()
    assert (np.diff(scored["risk"].to_numpy()) <= 1e-12).all()
    assert written["rank"].tolist() == list(range(1, len(written) + 1))
    # the registry's model and the in-memory one agree exactly
    assert outcome.model_version == trained["outcome"].model_version
    from features.landmarks import build_examples
    from pipeline.commands.inputs import load_inputs
    from pipeline.registry.tracking import default_model_uri, load_risk_model

    served = load_risk_model(default_model_uri(trained["config"]), trained["config"]).model
    tables = load_inputs(trained["clients"], trained["sessions"], trained["config"])
    X = model_inputs(build_examples(tables, trained["config"])[0].head(500))
    np.testing.assert_array_equal(
        served.predict_proba(X), trained["outcome"].result.model.predict_proba(X)
    )


def test_same_data_config_and_seed_give_the_same_model(trained):
    from configs.settings import FeatureSettings
    from features.landmarks import build_examples
    from models.training import train_models
    from pipeline.commands.inputs import load_inputs

    cfg = trained["config"]
    tables = load_inputs(trained["clients"], trained["sessions"], cfg)
    examples, labels, _ = build_examples(tables, cfg)
    again = train_models(
        examples,
        labels,
        cfg.training,
        FeatureSettings.from_config(cfg).to_dict(),
        horizon_days=cfg.label.horizon_days,
    )
    first = trained["outcome"].result
    assert again.selected == first.selected
    assert again.test_metrics == first.test_metrics
    # and the same scores, row for row
    X = model_inputs(examples.head(500))
    np.testing.assert_array_equal(again.model.predict_proba(X), first.model.predict_proba(X))


def test_a_minimal_contract_cohort_on_another_instrument_trains_and_scores(
    tmp_path, monkeypatch, config
):
    """Only required columns plus WAI-S items on 1-7 in Parquet: configuration, not code."""
    from configs.config import load_config
    from pipeline.commands.train import run_training
    from pipeline.synthetic import generate_cohort

    clients, sessions = generate_cohort(900, 23, config.instruments)
    clients = clients[
        ["client_id", "therapist_id", "intake_date", "discharge_date", "discharge_reason"]
    ]
    items = [f"wai_{i}" for i in range(1, 13)]
    sessions = sessions[["client_id", "session_date", "status", *items]].copy()
    # rescale WAI-SR 1-5 answers onto WAI-S 1-7 where present
    sessions[items] = (sessions[items].astype(float) - 1) * 1.5 + 1
    sessions[items] = sessions[items].round()
    clients_path, sessions_path = tmp_path / "c.parquet", tmp_path / "s.parquet"
    clients.to_parquet(clients_path)
    sessions.to_parquet(sessions_path)
    yaml = tmp_path / "clinic.yaml"
    yaml.write_text(
        "instruments:\n  wai:\n    min: 1\n    max: 7\n    rupture_drop: 0.8\n"
        "training:\n  cv_folds: 3\n  bootstrap: 0\n"
        "tracking:\n  registered_model: clinic-model\n"
    )
    cfg = load_config(yaml)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.chdir(tmp_path)
    outcome = run_training(clients_path, sessions_path, cfg)
    assert outcome.tables.issues.empty
    assert outcome.result.test_metrics["auroc"] > 0.6
    scored = run_scoring(clients_path, sessions_path, tmp_path / "risk.parquet", cfg)
    risk = pd.read_parquet(tmp_path / "risk.parquet")
    assert len(risk) == len(scored.risk_list) > 0
    assert risk["site"].isna().all() or (risk["site"].fillna("") == "").all()
    assert scored.model_version.startswith("clinic-model v")


TREE_ONLY = {
    "hist_gradient_boosting": "    lightgbm: null\n    hist_gradient_boosting:\n      max_iter: 40\n",
    "lightgbm": "    hist_gradient_boosting: null\n    lightgbm:\n      n_estimators: 40\n",
}


@pytest.mark.parametrize("candidate", sorted(TREE_ONLY))
def test_a_gradient_boosting_champion_is_saved_loaded_and_explained(
    candidate, tmp_path, monkeypatch
):
    """Tree models go through skops and the registry too, with exact tree SHAP reasons."""
    from configs.config import load_config
    from pipeline.commands.train import run_training
    from pipeline.synthetic import write_cohort

    yaml = tmp_path / "trees.yaml"
    yaml.write_text(
        "training:\n  cv_folds: 2\n  bootstrap: 0\n  temporal_fraction: 0\n"
        "  candidates:\n    logistic: null\n" + TREE_ONLY[candidate]
    )
    cfg = load_config(yaml)
    clients, sessions = write_cohort(tmp_path / "data", 700, 31, cfg.instruments)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.chdir(tmp_path)
    outcome = run_training(clients, sessions, cfg)
    assert outcome.result.selected == candidate
    assert outcome.temporal is None
    scored = run_scoring(clients, sessions, tmp_path / "risk.csv", cfg)
    listed = scored.risk_list[scored.risk_list["scored"]]
    assert len(listed) > 0 and (listed["reason_1"] != "").mean() > 0.8
    assert scored.model_version == outcome.model_version


def test_the_evaluation_report_is_written_and_logged_with_every_section(trained):
    from pipeline.reports.evaluation import FIGURES, REPORT_SECTIONS

    folder = trained["root"] / "evaluation"
    page = (folder / "report.html").read_text(encoding="utf-8")
    for section in REPORT_SECTIONS:
        assert page.count(f"<section id='{section}'") == 1, section
    for figure in FIGURES:
        assert (folder / figure).stat().st_size > 1000, figure
    # the caseload back-test first, the baselines after; the temporal check is off by default
    assert page.index("id='caseload'") < page.index("id='summary'")
    assert "notebook model" in page
    for name in ("srs_rule", "attendance_only", "alliance_only", "intake_only"):
        assert name in page
    assert "no temporal validation was run" in page.lower()
    client = mlflow.MlflowClient(tracking_uri=trained["uri"])
    logged = {a.path for a in client.list_artifacts(trained["outcome"].run_id, "evaluation")}
    assert {f"evaluation/{name}" for name in (*FIGURES, "report.html")} <= logged


def test_the_temporal_check_still_runs_when_asked_for(tmp_path, monkeypatch):
    from configs.config import load_config
    from pipeline.commands.train import run_training
    from pipeline.synthetic import write_cohort

    yaml = tmp_path / "temporal.yaml"
    yaml.write_text(
        "training:\n  cv_folds: 2\n  bootstrap: 0\n  temporal_fraction: 0.25\n"
        "  candidates:\n    lightgbm: null\n    hist_gradient_boosting: null\n"
    )
    cfg = load_config(yaml)
    clients, sessions = write_cohort(tmp_path / "data", 900, 37, cfg.instruments)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.chdir(tmp_path)
    outcome = run_training(clients, sessions, cfg)
    assert outcome.temporal is not None
    assert "tested on intakes from then on" in outcome.result.temporal_note
    later = outcome.result.temporal_predictions
    assert len(later) > 50 and later["risk"].between(0, 1).all()
