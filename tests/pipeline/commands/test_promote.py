"""Champion and challenger: each gate refuses on its own, all passing promotes, all logged."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from configs.config import PromotionConfig, load_config
from models.promotion import decide
from pipeline.cli import app
from pipeline.commands.promote import decision_markdown, run_promotion
from tests.conftest import private_mlflow_store
from tests.models.test_promotion import PASSING


def test_decision_table_in_markdown_escapes_cells():
    gates = decide(PASSING | {"cal_slope_challenger": 0.5}, PromotionConfig())
    text = decision_markdown(gates, "refused", "1", "2")
    assert text.startswith("# Promotion of v2 (champion: v1): refused")
    assert "| calibration_slope | 1.000 | 0.500 | challenger within 0.8–1.2 | NO |" in text


def test_slope_bounds_must_surround_one():
    with pytest.raises(ValueError, match="0 < low < 1 < high"):
        PromotionConfig(calibration_slope=(1.1, 1.3))


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Two versions trained on the same data, config and seed in a private store."""
    from pipeline.commands.train import run_training
    from pipeline.synthetic import write_cohort

    root = tmp_path_factory.mktemp("registry")
    settings = root / "small.yaml"
    settings.write_text(
        "training:\n  bootstrap: 20\n  cv_folds: 3\n  search:\n    configs_per_candidate: 1\n"
        # the back-test of a 1,500-client export holds about 300 held-out clients: its
        # slope and calibration-in-the-large are too noisy for the default bounds, and
        # these tests are about how the gates act (each gate's bounds: tested above)
        "promotion:\n  bootstrap: 100\n  calibration_slope: [0.5, 2.0]\n"
        "  calibration_in_the_large: 0.2\n"
    )
    cfg = load_config(settings)
    clients, sessions = write_cohort(root / "data", 1500, 11, cfg.instruments)
    with private_mlflow_store(root) as uri:
        first = run_training(clients, sessions, cfg)
        second = run_training(clients, sessions, cfg)
        yield {
            "root": root,
            "settings": settings,
            "config": cfg,
            "clients": clients,
            "sessions": sessions,
            "first": first,
            "second": second,
            "client": mlflow.MlflowClient(tracking_uri=uri),
        }


def _alias(registry, alias: str) -> str:
    return str(registry["client"].get_model_version_by_alias("dropout-risk", alias).version)


def _set_aliases(registry, champion: str, challenger: str) -> None:
    client = registry["client"]
    client.set_registered_model_alias("dropout-risk", "champion", champion)
    client.set_registered_model_alias("dropout-risk", "challenger", challenger)


def test_train_registers_challenger_and_keeps_the_champion(registry):
    assert registry["first"].aliases == ("challenger", "champion")
    assert registry["second"].aliases == ("challenger",)
    first_version = registry["first"].model_version.rsplit(" v", 1)[1]
    second_version = registry["second"].model_version.rsplit(" v", 1)[1]
    tags = registry["client"].get_model_version("dropout-risk", first_version).tags
    assert tags["promotion"].startswith("first version")
    assert _alias(registry, "champion") == first_version
    assert _alias(registry, "challenger") == second_version


def test_same_data_config_and_seed_give_identical_metrics_and_scores(registry, tmp_path):
    """Reproducibility: two trainings, every logged metric and every score identical."""
    from pipeline.commands.score import run_scoring

    client = registry["client"]
    runs = [client.get_run(registry[k].run_id).data for k in ("first", "second")]
    timing = {k for k in runs[0].metrics if "seconds" in k}
    first = {k: v for k, v in runs[0].metrics.items() if k not in timing}
    second = {k: v for k, v in runs[1].metrics.items() if k not in timing}
    assert len(first) > 50 and first == second
    # what differs is only which version each run registered, and the model file's
    # checksum (MLflow logs the model_config as params; the skops zip stamps its members
    # with the time of writing, so equal models give different bytes: the scores below
    # show the models are the same)
    per_version = ("registered_version", "aliases_set", "version_label", "risk_model_sha256")
    params = [{k: v for k, v in r.params.items() if k not in per_version} for r in runs]
    assert params[0] == params[1]
    lists = []
    for version in ("1", "2"):
        outcome = run_scoring(
            registry["clients"],
            registry["sessions"],
            tmp_path / f"v{version}.csv",
            registry["config"],
            model_uri=f"models:/dropout-risk/{version}",
        )
        lists.append(outcome.risk_list.drop(columns="model_version"))
    pd.testing.assert_frame_equal(lists[0], lists[1])
    assert lists[0]["risk"].notna().sum() > 100


def test_promote_moves_the_champion_when_every_gate_passes(registry):
    _set_aliases(registry, champion="1", challenger="2")
    outcome = run_promotion(registry["clients"], registry["sessions"], registry["config"])
    assert outcome.promoted and outcome.decision == "promoted"
    assert all(g.passed for g in outcome.gates)
    # identical models: the difference and its interval are exactly zero
    assert outcome.figures["auroc_difference"] == 0.0
    assert outcome.figures["episodes"] >= 50
    assert _alias(registry, "champion") == "2"
    run = registry["client"].get_run(outcome.run_id)
    assert run.info.run_name == "promote-v2"
    assert run.data.params["promotion_decision"] == "promoted"
    assert run.data.params["forced"] == "false"
    assert run.data.metrics["gate_auroc_passed"] == 1.0
    assert run.data.metrics["auroc_challenger"] == pytest.approx(
        outcome.figures["auroc_challenger"]
    )
    version = registry["client"].get_model_version("dropout-risk", "2")
    assert version.tags["promotion_decision"] == "promoted"
    assert version.tags["promotion_run_id"] == outcome.run_id


def _shifted_caseload(registry, root: Path) -> tuple[Path, Path]:
    """The same history, but the active clients' SRS ratings are no longer exported."""
    clients = pd.read_csv(registry["clients"], dtype=str)
    sessions = pd.read_csv(registry["sessions"], dtype=str)
    active = clients.loc[clients["discharge_reason"].isna(), "client_id"]
    rows = sessions["client_id"].isin(active)
    srs = [c for c in sessions.columns if c.startswith("srs_")]
    sessions.loc[rows, srs] = None
    root.mkdir(exist_ok=True)
    clients.to_csv(root / "clients.csv", index=False)
    sessions.to_csv(root / "sessions.csv", index=False)
    return root / "clients.csv", root / "sessions.csv"


def test_cli_refuses_on_a_failing_gate_then_force_promotes_and_is_logged(registry, tmp_path):
    _set_aliases(registry, champion="1", challenger="2")
    clients, sessions = _shifted_caseload(registry, tmp_path / "shifted")
    args = ["promote", "--clients", str(clients), "--sessions", str(sessions)]
    args += ["--config", str(registry["settings"])]
    refused = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert refused.exit_code == 4, refused.output
    assert "promotion refused: drift gate failed; champion stays v1" in refused.output
    assert "srs_total" in refused.output  # the moved feature is named in the table
    for word in ("auroc", "calibration slope", "subgroup gap", "drift"):
        assert word in refused.output
    assert _alias(registry, "champion") == "1"
    runs = mlflow.search_runs(
        experiment_names=["dropout-risk"], filter_string="params.promotion_decision = 'refused'"
    )
    assert len(runs) >= 1

    forced = CliRunner().invoke(app, [*args, "--force"], env={"COLUMNS": "200"})
    assert forced.exit_code == 0, forced.output
    assert "forced past a failing gate" in forced.output
    assert _alias(registry, "champion") == "2"
    version = registry["client"].get_model_version("dropout-risk", "2")
    assert version.tags["promotion_forced"] == "true"
    logged = mlflow.search_runs(
        experiment_names=["dropout-risk"], filter_string="params.forced = 'true'"
    )
    assert len(logged) == 1
    decision = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=logged["run_id"].iloc[0],
                artifact_path="promotion.json",
                dst_path=str(tmp_path / "dl"),
            )  # fmt: skip
        ).read_text()
    )
    assert decision["forced"] is True and decision["decision"] == "promoted"
    assert [g["name"] for g in decision["gates"] if not g["passed"]] == ["drift"]


def test_promote_without_a_challenger_or_with_the_champion_itself(registry, tmp_path):
    _set_aliases(registry, champion="2", challenger="2")
    same = run_promotion(registry["clients"], registry["sessions"], registry["config"])
    assert not same.gates and "already the champion" in same.note
    registry["client"].delete_registered_model_alias("dropout-risk", "challenger")
    try:
        args = ["promote", "--clients", str(registry["clients"])]
        args += ["--sessions", str(registry["sessions"])]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2
        assert "no dropout-risk@challenger" in result.output
        assert "dropout-risk train" in result.output
    finally:
        registry["client"].set_registered_model_alias("dropout-risk", "challenger", "2")


def test_a_champion_that_cannot_be_compared_is_replaced_only_with_force(registry, monkeypatch):
    """E.g. registered by an earlier dropout-risk that did not record its held-out split."""
    import copy

    import pipeline.commands.promote as promote
    from configs.errors import InputError

    real = promote.load_risk_model

    def without_split(uri, config):
        loaded = real(uri, config)
        if uri.endswith("/1"):
            model = copy.copy(loaded.model)
            del model.split_
            return type(loaded)(model=model, uri=loaded.uri, version_label=loaded.version_label)
        return loaded

    monkeypatch.setattr(promote, "load_risk_model", without_split)
    _set_aliases(registry, champion="1", challenger="2")
    with pytest.raises(InputError, match=r"champion dropout-risk v1 cannot be compared.*--force"):
        run_promotion(registry["clients"], registry["sessions"], registry["config"])
    assert _alias(registry, "champion") == "1"
    forced = run_promotion(
        registry["clients"], registry["sessions"], registry["config"], force=True
    )
    assert forced.decision == "promoted (forced)" and "not compared" in forced.note
    assert _alias(registry, "champion") == "2"
    run = registry["client"].get_run(forced.run_id)
    assert run.data.params["forced"] == "true"
