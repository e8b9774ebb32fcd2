"""Every way a model is loaded checks its file's SHA-256, or refuses it with why and the fix.

Models are copied out of the trained store (or logged into a private one) before they are
changed: the shared ``trained`` store is only read.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import numpy as np
import pytest
import skops.io
import yaml

from configs.errors import InputError
from models.array_model import ArrayRiskModel
from models.risk_model import RiskModel
from pipeline.registry.tracking import (
    ARRAYS_CHECKSUM_TAG,
    ARRAYS_FILE,
    CHECKSUM_TAG,
    RISK_MODEL_FILE,
    file_sha256,
    load_risk_model,
    load_skops_model,
)
from tests.conftest import private_mlflow_store

NAME = "dropout-risk"


class NotADropoutModel:
    """A type skops was never told to trust."""

    def __init__(self):
        self.feature_settings = {"looks": "right"}


@pytest.fixture
def champion(trained):
    return mlflow.MlflowClient(tracking_uri=trained["uri"]).get_model_version_by_alias(
        NAME, "champion"
    )


@pytest.fixture
def model_copy(trained, champion, tmp_path) -> Path:
    """The champion's model directory, copied out of the trained store."""
    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{NAME}/{champion.version}",
            dst_path=str(tmp_path / "model"),
            tracking_uri=trained["uri"],
        )
    )


@pytest.fixture
def private_store(trained, tmp_path):
    """An empty store of this test's own; the trained store is current again afterwards."""
    (tmp_path / "store").mkdir()
    try:
        with private_mlflow_store(tmp_path / "store") as uri:
            yield mlflow.MlflowClient(tracking_uri=uri)
    finally:
        mlflow.set_tracking_uri(trained["uri"])


@pytest.fixture(scope="module")
def inputs(trained):
    from features.landmarks import build_examples, model_inputs
    from pipeline.commands.inputs import load_inputs

    tables = load_inputs(trained["clients"], trained["sessions"], trained["config"])
    return model_inputs(build_examples(tables, trained["config"])[0].head(200))


def _tamper(model_dir: Path) -> Path:
    path = model_dir / "artifacts" / RISK_MODEL_FILE
    path.write_bytes(path.read_bytes() + b"\0")
    return path


def _record_in_mlmodel(model_dir: Path, sha256: str | None, key: str = CHECKSUM_TAG) -> None:
    """Rewrite the checksum the model's MLmodel records under ``key`` (None: record none)."""
    path = model_dir / "MLmodel"
    mlmodel = yaml.safe_load(path.read_text(encoding="utf-8"))
    config = mlmodel["flavors"]["python_function"]["config"]
    if sha256 is None:
        config.pop(key)
    else:
        config[key] = sha256
    path.write_text(yaml.safe_dump(mlmodel), encoding="utf-8")


def _log_run(client, model_dir: Path, sha256: str | None) -> str:
    """A run in ``client``'s store holding ``model_dir`` as ``model``, with its checksum param."""
    run = client.create_run(client.get_experiment_by_name("Default").experiment_id)
    if sha256 is not None:
        client.log_param(run.info.run_id, CHECKSUM_TAG, sha256)
    client.log_artifacts(run.info.run_id, str(model_dir), "model")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def _refusal(uri: str, config, *, scoring: bool = False) -> str:
    with pytest.raises(InputError) as caught:
        load_risk_model(uri, config, scoring=scoring)
    return str(caught.value)


# a model directory (--model PATH): its own MLmodel is the record


def test_a_model_directory_loads_when_its_file_matches_and_predicts_as_the_registry(
    trained, champion, model_copy, inputs
):
    cfg = trained["config"]
    loaded = load_risk_model(str(model_copy), cfg)
    registered = load_risk_model(f"models:/{NAME}/{champion.version}", cfg)
    assert loaded.version_label == str(model_copy)
    np.testing.assert_array_equal(
        loaded.model.predict_proba(inputs), registered.model.predict_proba(inputs)
    )


def test_a_tampered_file_in_a_model_directory_is_refused(trained, model_copy):
    found = file_sha256(_tamper(model_copy))
    message = _refusal(str(model_copy), trained["config"])
    assert message.startswith(
        f"{model_copy}: the model file does not match the checksum recorded in the model's "
        f"MLmodel (model_config {CHECKSUM_TAG}): "
    )
    assert f"found {found[:12]}…" in message
    assert "refused. Fix: restore the artifact store from a backup" in message


def test_a_model_directory_without_a_recorded_checksum_is_refused(trained, model_copy):
    _record_in_mlmodel(model_copy, None)
    message = _refusal(str(model_copy), trained["config"])
    assert message.startswith(
        f"{model_copy}: the model's MLmodel records no checksum of its model file"
    )
    assert "so its model file cannot be checked and is refused. Fix: train and register" in message


def test_the_sklearn_flavour_of_earlier_versions_is_refused(trained, model_copy, tmp_path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    shutil.copy(model_copy / "artifacts" / RISK_MODEL_FILE, legacy / "model.skops")
    (legacy / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: "
        "model.skops\n  sklearn:\n    pickled_model: model.skops\n    serialization_format: skops\n",
        encoding="utf-8",
    )
    message = _refusal(str(legacy), trained["config"])
    assert message == (
        f"{legacy}: a model of the sklearn flavour (model.skops), saved by an earlier version "
        "of dropout-risk before checksums were recorded, so its model file cannot be checked "
        "and is refused. Fix: train and register a new version with `dropout-risk train` and "
        "pass --model models:/<name>/<version> (or its alias), or pass --model with a model "
        "registered since."
    )


# a run (--model runs:/<run_id>/model): the run's param and its versions' tags


def test_a_run_uri_loads_when_its_file_matches_the_records_of_the_run(trained, champion, inputs):
    cfg = trained["config"]
    run = mlflow.MlflowClient(tracking_uri=trained["uri"]).get_run(champion.run_id)
    # registration records the checksum in the run as well as in the version
    assert run.data.params[CHECKSUM_TAG] == champion.tags[CHECKSUM_TAG]
    uri = f"runs:/{champion.run_id}/model"
    loaded = load_risk_model(uri, cfg)
    assert loaded.uri == uri
    registered = load_risk_model(f"models:/{NAME}/{champion.version}", cfg)
    np.testing.assert_array_equal(
        loaded.model.predict_proba(inputs), registered.model.predict_proba(inputs)
    )


def test_a_tampered_file_under_a_run_is_refused_even_with_its_mlmodel_rewritten(
    trained, champion, model_copy, private_store
):
    recorded = champion.tags[CHECKSUM_TAG]
    good = _log_run(private_store, model_copy, recorded)
    loaded = load_risk_model(f"runs:/{good}/model", trained["config"])
    assert loaded.uri == loaded.version_label == f"runs:/{good}/model"
    assert loaded.model.feature_settings == trained["outcome"].result.model.feature_settings
    # whoever changed the file also wrote its new checksum into the MLmodel beside it
    _record_in_mlmodel(model_copy, file_sha256(_tamper(model_copy)))
    bad = _log_run(private_store, model_copy, recorded)
    message = _refusal(f"runs:/{bad}/model", trained["config"])
    assert message.startswith(
        f"runs:/{bad}/model: the model file does not match the checksum recorded in its run's "
        f"param {CHECKSUM_TAG}: recorded sha256 {recorded[:12]}…"
    )
    assert "refused. Fix: restore the artifact store" in message


def test_a_run_that_records_no_checksum_is_refused(trained, model_copy, private_store):
    _record_in_mlmodel(model_copy, None)
    run_id = _log_run(private_store, model_copy, None)
    message = _refusal(f"runs:/{run_id}/model", trained["config"])
    assert message.startswith(
        f"runs:/{run_id}/model: no checksum of its model file is recorded in its run "
        f"(param {CHECKSUM_TAG}), in a version registered from the run or in the model's MLmodel"
    )
    assert "cannot be checked and is refused. Fix: train and register a new version" in message


# a registry version (models:/name/N, models:/name@alias): its tag, required


def test_a_version_without_the_checksum_tag_is_refused_with_the_fix(
    trained, champion, model_copy, private_store
):
    recorded = champion.tags[CHECKSUM_TAG]
    run_id = _log_run(private_store, model_copy, recorded)
    private_store.create_registered_model(NAME)
    source = f"{private_store.get_run(run_id).info.artifact_uri}/model"
    version = private_store.create_model_version(NAME, source, run_id=run_id).version
    message = _refusal(f"models:/{NAME}/{version}", trained["config"])
    assert message == (
        f"{NAME} v{version}: the version has no tag {CHECKSUM_TAG} (it was registered before "
        "checksums were recorded, or not by `dropout-risk train`), so its model file cannot "
        "be checked and is refused. Fix: train and register a new version with `dropout-risk "
        "train` and pass --model models:/<name>/<version> (or its alias), or pass --model "
        "with a model registered since."
    )
    # with the tag it loads; a tag that disagrees with the file is refused
    private_store.set_model_version_tag(NAME, version, CHECKSUM_TAG, recorded)
    assert load_risk_model(f"models:/{NAME}/{version}", trained["config"]).version_label == (
        f"{NAME} v{version}"
    )
    private_store.set_model_version_tag(NAME, version, CHECKSUM_TAG, "0" * 64)
    message = _refusal(f"models:/{NAME}/{version}", trained["config"])
    assert message.startswith(
        f"{NAME} v{version}: the model file does not match the checksum recorded in the "
        f"version's tag {CHECKSUM_TAG}: recorded sha256 000000000000…"
    )


# the served pyfunc model (load_model, models serve, spark_udf): its model_config


def test_the_served_model_refuses_a_model_config_without_a_checksum(trained, champion, model_copy):
    _record_in_mlmodel(model_copy, None)
    _record_in_mlmodel(model_copy, None, key=ARRAYS_CHECKSUM_TAG)
    with pytest.raises(InputError) as caught:
        mlflow.pyfunc.load_model(str(model_copy))
    assert str(caught.value).startswith(
        f"{NAME} v{champion.version}: the model's MLmodel records no checksum of its model file"
    )
    assert "Fix: train and register a new version with `dropout-risk train`" in str(caught.value)


# skops: only the reviewed types, even in a file whose checksum matches


def test_a_skops_file_with_an_untrusted_type_is_refused(tmp_path):
    path = tmp_path / RISK_MODEL_FILE
    skops.io.dump(NotADropoutModel(), path)
    with pytest.raises(InputError) as caught:
        load_skops_model(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a dropout-risk model this version can read (")
    assert "test_integrity.NotADropoutModel" in message
    assert message.endswith("Fix: pass --model with a model registered by `dropout-risk train`.")


def test_an_untrusted_type_is_refused_even_when_its_checksum_is_recorded(trained, model_copy):
    packed = model_copy / "artifacts" / RISK_MODEL_FILE
    skops.io.dump(NotADropoutModel(), packed)
    _record_in_mlmodel(model_copy, file_sha256(packed))
    message = _refusal(str(model_copy), trained["config"])
    assert message.startswith(f"{packed}: not a dropout-risk model this version can read (")
    assert "test_integrity.NotADropoutModel" in message


# the array form `score` reads: checked as the skops file is, read only where it is recorded


def test_score_reads_the_array_form_recorded_everywhere_the_skops_file_is(
    trained, champion, model_copy, inputs
):
    cfg = trained["config"]
    uri = f"models:/{NAME}/{champion.version}"
    arrays, full = load_risk_model(uri, cfg, scoring=True), load_risk_model(uri, cfg)
    assert isinstance(arrays.model, ArrayRiskModel) and isinstance(full.model, RiskModel)
    assert arrays.version_label == full.version_label == f"{NAME} v{champion.version}"
    recorded = file_sha256(model_copy / "artifacts" / ARRAYS_FILE)
    run = mlflow.MlflowClient(tracking_uri=trained["uri"]).get_run(champion.run_id)
    assert champion.tags[ARRAYS_CHECKSUM_TAG] == recorded
    assert run.data.params[ARRAYS_CHECKSUM_TAG] == recorded
    np.testing.assert_allclose(
        arrays.model.predict_proba(inputs), full.model.predict_proba(inputs), rtol=0, atol=1e-12
    )


def test_a_tampered_array_file_is_refused_not_passed_over(trained, model_copy):
    path = model_copy / "artifacts" / ARRAYS_FILE
    path.write_bytes(path.read_bytes() + b"\0")
    message = _refusal(str(model_copy), trained["config"], scoring=True)
    assert message.startswith(
        f"{model_copy}: the model file does not match the checksum recorded in the model's "
        f"MLmodel (model_config {ARRAYS_CHECKSUM_TAG}): "
    )
    assert "refused. Fix: restore the artifact store from a backup" in message
    # its skops file is intact, so the full model (promote reads it) still loads
    assert isinstance(load_risk_model(str(model_copy), trained["config"]).model, RiskModel)


def test_an_array_file_nothing_records_is_never_read(trained, model_copy):
    _record_in_mlmodel(model_copy, None, key=ARRAYS_CHECKSUM_TAG)
    (model_copy / "artifacts" / ARRAYS_FILE).write_bytes(b"anything at all")
    loaded = load_risk_model(str(model_copy), trained["config"], scoring=True)
    assert isinstance(loaded.model, RiskModel)


def test_an_array_file_that_is_not_a_model_is_refused_with_the_fix(trained, model_copy):
    path = model_copy / "artifacts" / ARRAYS_FILE
    np.savez(path, values=np.arange(3))
    _record_in_mlmodel(model_copy, file_sha256(path), key=ARRAYS_CHECKSUM_TAG)
    message = _refusal(str(model_copy), trained["config"], scoring=True)
    assert message == (
        f"{path}: not a dropout-risk array model this version can read (ValueError: no "
        "header: not a dropout-risk array model). Fix: pass --model with a model registered "
        "by `dropout-risk train`."
    )


def test_a_version_whose_tag_lacks_the_arrays_checksum_is_read_from_its_skops_file(
    trained, champion, model_copy, private_store
):
    run_id = _log_run(private_store, model_copy, champion.tags[CHECKSUM_TAG])
    private_store.create_registered_model(NAME)
    source = f"{private_store.get_run(run_id).info.artifact_uri}/model"
    version = private_store.create_model_version(NAME, source, run_id=run_id).version
    private_store.set_model_version_tag(NAME, version, CHECKSUM_TAG, champion.tags[CHECKSUM_TAG])
    # the model's own MLmodel records the arrays' checksum; the registry does not
    loaded = load_risk_model(f"models:/{NAME}/{version}", trained["config"], scoring=True)
    assert isinstance(loaded.model, RiskModel)


def test_the_served_model_reads_the_array_form_and_refuses_it_tampered(
    trained, champion, model_copy
):
    served = mlflow.pyfunc.load_model(str(model_copy)).unwrap_python_model()
    assert isinstance(served.model, ArrayRiskModel)
    path = model_copy / "artifacts" / ARRAYS_FILE
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(InputError) as caught:
        mlflow.pyfunc.load_model(str(model_copy))
    assert str(caught.value).startswith(
        f"{NAME} v{champion.version}: the model file does not match the checksum recorded in "
        f"the model's MLmodel (model_config {ARRAYS_CHECKSUM_TAG})"
    )
