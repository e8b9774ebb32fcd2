"""MLflow at the edge: where the store is, logging the model, the registry and loading.

MLflow's own conventions hold (CONTRACT.md): ``MLFLOW_TRACKING_URI`` when set, else the
config's URI (a local SQLite file by default). Models are saved with skops, never pickle,
and loaded only from the registry or a URI the user names.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from pipeline.config import Config
from pipeline.errors import InputError

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


def tracking_uri(config: Config) -> str:
    """The tracking store: the environment variable wins over the config."""
    return os.environ.get("MLFLOW_TRACKING_URI") or config.tracking.uri


def configure(config: Config):
    """Point MLflow at the store and quieten its start-up chatter; returns the module."""
    warnings.filterwarnings("ignore", module="mlflow")
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)

    mlflow.set_tracking_uri(tracking_uri(config))
    return mlflow


def default_model_uri(config: Config) -> str:
    return f"models:/{config.tracking.registered_model}@{CHAMPION}"


@dataclass(frozen=True)
class LoadedModel:
    model: object
    uri: str
    version_label: str


def load_risk_model(uri: str, config: Config) -> LoadedModel:
    """Load a RiskModel from the registry (``models:/…``), a run, or a path the user named.

    Raises
    ------
    InputError
        When no such model exists (exit status 2), with the fix.
    """
    mlflow = configure(config)
    from mlflow.exceptions import MlflowException

    label = uri
    if uri.startswith("models:/"):
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
        label = f"{version.name} v{version.version}"
        uri = f"models:/{version.name}/{version.version}"
    try:
        model = mlflow.sklearn.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise InputError(
            f"could not load the model at {uri}: {exc}. Fix: pass --model with a model saved by `dropout-risk train`."
        ) from exc
    if not hasattr(model, "explain") or not hasattr(model, "feature_settings"):
        raise InputError(
            f"{uri} is not a dropout-risk model. Fix: pass --model with a model saved by `dropout-risk train`."
        )
    return LoadedModel(model=model, uri=uri, version_label=label)
