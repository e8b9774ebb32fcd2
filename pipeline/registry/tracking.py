"""MLflow at the edge: where the store is, logging the model, the registry and loading.

MLflow's own conventions hold (CONTRACT.md): ``MLFLOW_TRACKING_URI`` when set, else the
config's URI (a local SQLite file by default). Models are saved with skops, never pickle,
and loaded only from the registry or a URI the user names.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from configs.config import Config
from configs.errors import InputError

# Types inside a RiskModel that skops must be told to trust. Reviewed: our own model
# classes, scikit-learn's internal tree structures and LightGBM's booster (restored from
# its text model format); nothing that executes code on load.
SKOPS_TRUSTED_TYPES = [
    "models.risk_model.RiskModel",
    "features.history.DropoutHistoryEncoder",
    "models.constrained_lightgbm.MonotoneLightGBM",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.basic.Booster",
    "collections.OrderedDict",
    "models.candidates.FillNeverObserved",
    "models.candidates.PoolRareCategories",
    "models.candidates.ClipToSeenRange",
    "models.constrained_logistic.SignConstrainedLogisticRegression",
    "numpy.dtype",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.compose._column_transformer._RemainderColsList",
]
CHAMPION = "champion"
CHALLENGER = "challenger"


def tracking_uri(config: Config) -> str:
    """The tracking store: the environment variable wins over the config."""
    return os.environ.get("MLFLOW_TRACKING_URI") or config.tracking.uri


def configure(config: Config):
    """Point MLflow at the store and quieten its start-up chatter; returns the module."""
    warnings.filterwarnings("ignore", module="mlflow")
    # progress bars of artifact downloads would clutter the scheduled job's log
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)

    mlflow.set_tracking_uri(tracking_uri(config))
    return mlflow


def default_model_uri(config: Config) -> str:
    return f"models:/{config.tracking.registered_model}@{CHAMPION}"


# the RiskModel inside the registered pyfunc model (pipeline.registry.serving)
RISK_MODEL_ARTIFACT = "risk_model"
RISK_MODEL_FILE = "risk_model.skops"
# the version tag holding that file's SHA-256, recorded at registration, checked at load
CHECKSUM_TAG = "risk_model_sha256"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_skops_model(model, path: Path) -> Path:
    """Write a RiskModel with skops (no pickle)."""
    import skops.io

    skops.io.dump(model, Path(path))
    return Path(path)


def load_skops_model(path: Path):
    """Read a RiskModel written by :func:`save_skops_model`, trusting only the reviewed types.

    Raises
    ------
    InputError
        When the file holds something other than a dropout-risk model, or an unreviewed type.
    """
    import skops.io

    try:
        model = skops.io.load(Path(path), trusted=SKOPS_TRUSTED_TYPES)
    except Exception as exc:  # skops raises several types for untrusted or corrupt files
        raise InputError(
            f"{path}: not a dropout-risk model this version can read ({type(exc).__name__}: {exc}). "
            "Fix: pass --model with a model registered by `dropout-risk train`."
        ) from exc
    if not hasattr(model, "explain") or not hasattr(model, "feature_settings"):
        raise InputError(
            f"{path} is not a dropout-risk model. Fix: pass --model with a model saved by `dropout-risk train`."
        )
    return model


@dataclass(frozen=True)
class LoadedModel:
    model: object
    uri: str
    version_label: str


def alias_version(client, name: str, alias: str):
    """The model version an alias points at, or None (no such model or alias)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _resolve(uri: str, config: Config) -> tuple[str, str, str]:
    """A registry URI (``models:/name@alias`` or ``models:/name/N``) as a fixed version.

    Returns the fixed URI, its label and the SHA-256 of the model file recorded when the
    version was registered ("" for paths and runs, which have no registry record).
    """
    mlflow = configure(config)
    from mlflow.exceptions import MlflowException

    if not uri.startswith("models:/"):
        return uri, uri, ""
    ref = uri[len("models:/") :]
    client = mlflow.MlflowClient()
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        else:
            name, number = ref.split("/", 1)
            version = client.get_model_version(name, number)
    except (MlflowException, ValueError) as exc:
        raise InputError(
            f"no model at {uri} in the tracking store {tracking_uri(config)}. "
            "Fix: run `dropout-risk train` first, or pass --model with an existing model URI "
            "(or set MLFLOW_TRACKING_URI to the store that holds it)."
        ) from exc
    return (
        f"models:/{version.name}/{version.version}",
        f"{version.name} v{version.version}",
        (version.tags or {}).get(CHECKSUM_TAG, ""),
    )


def load_risk_model(uri: str, config: Config) -> LoadedModel:
    """Load a RiskModel from the registry (``models:/…``), a run, or a path the user named.

    The registered model is an MLflow pyfunc model (pipeline.registry.serving); its RiskModel is
    the skops file among its artifacts. Models registered by earlier versions (the sklearn
    flavour, also skops) still load.

    Raises
    ------
    InputError
        When no such model exists (exit status 2), with the fix.
    """
    mlflow = configure(config)
    from mlflow.exceptions import MlflowException

    fixed, label, expected = _resolve(uri, config)
    with tempfile.TemporaryDirectory(prefix="dropout-model-") as tmp:
        try:
            local = Path(fixed) if Path(fixed).is_dir() else None
            if local is None:
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=fixed, dst_path=tmp))
        except (MlflowException, OSError) as exc:
            raise InputError(
                f"could not load the model at {fixed}: {exc}. Fix: pass --model with a model saved by `dropout-risk train`."
            ) from exc
        packed = local / "artifacts" / RISK_MODEL_FILE
        if packed.is_file():
            found = file_sha256(packed)
            if expected and found != expected:
                raise InputError(
                    f"{label}: the model file does not match the checksum recorded when it was "
                    f"registered (recorded sha256 {expected[:12]}…, found {found[:12]}…): it was "
                    "changed after registration and is refused. Fix: restore the artifact store "
                    "from a backup, or train and register a new version."
                )
            model = load_skops_model(packed)
        elif (local / "model.skops").is_file():
            model = load_skops_model(local / "model.skops")
        else:
            raise InputError(
                f"{fixed} is not a dropout-risk model (no {RISK_MODEL_FILE}). "
                "Fix: pass --model with a model saved by `dropout-risk train`."
            )
    return LoadedModel(model=model, uri=fixed, version_label=label)
