"""MLflow at the edge: where the store is, logging the model, the registry and loading.

MLflow's own conventions hold (CONTRACT.md): ``MLFLOW_TRACKING_URI`` when set, else the
config's URI (a local SQLite file by default). Models are saved with skops, never pickle,
and loaded only from the registry or a URI the user names, and only when the model file
matches the SHA-256 recorded for it (:func:`verify_model_file`).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
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
# the same model as arrays (models.array_model), which `score` reads without scikit-learn
# or skops; its SHA-256 is recorded in the same places under its own key
ARRAYS_ARTIFACT = "risk_model_arrays"
ARRAYS_FILE = "risk_model.arrays.npz"
ARRAYS_CHECKSUM_TAG = "risk_model_arrays_sha256"


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
class RecordedChecksum:
    """The SHA-256 of a model file as one place records it ("" where that place has none).

    ``where`` says the place in words, for messages ("in the version's tag …"); a
    ``required`` record must hold a checksum, or the file is refused.
    """

    where: str
    sha256: str
    required: bool = False


# What each record protects against (they are checked together, strongest first):
# - the registry version's tag: kept in the tracking store, apart from the artifact store,
#   so a file changed or replaced in the artifact store alone is caught; anyone allowed to
#   edit the registry could rewrite it together with the file;
# - the run's param: also in the tracking store, and MLflow never lets a param's value
#   change once logged, so rewriting the registry tag too is caught as well;
# - the model's own MLmodel (``model_config``): travels with the model, so it still checks
#   a model copied out of any store (a path, `mlflow models serve`), but it lies beside the
#   file: it catches a corrupt or replaced file, not someone who rewrites both.
def _tag_where(key: str) -> str:
    return f"in the version's tag {key}"


def _run_where(key: str) -> str:
    return f"in its run's param {key}"


def _model_config_where(key: str) -> str:
    return f"in the model's MLmodel (model_config {key})"


TAG_RECORD = _tag_where(CHECKSUM_TAG)
RUN_RECORD = _run_where(CHECKSUM_TAG)
MODEL_CONFIG_RECORD = _model_config_where(CHECKSUM_TAG)
NO_CHECKSUM = "so its model file cannot be checked and is refused"
FIX_RETRAIN = (
    "Fix: train and register a new version with `dropout-risk train` and pass --model "
    "models:/<name>/<version> (or its alias), or pass --model with a model registered since"
)


def model_config_record(model_config: Mapping | None, key: str = CHECKSUM_TAG) -> RecordedChecksum:
    """The checksum a pyfunc model's ``model_config`` holds (written by registration)."""
    return RecordedChecksum(_model_config_where(key), str((model_config or {}).get(key) or ""))


def unrecorded_in_model(label: str) -> str:
    """Why a model that only its own MLmodel vouches for is refused without a checksum."""
    return (
        f"{label}: the model's MLmodel records no checksum of its model file (no model_config "
        f"{CHECKSUM_TAG}: it was saved before checksums were recorded, or not by `dropout-risk "
        f"train`), {NO_CHECKSUM}. {FIX_RETRAIN}."
    )


def verify_model_file(
    path: Path, label: str, records: Sequence[RecordedChecksum], unrecorded: str
) -> None:
    """Refuse a model file unless its SHA-256 equals every checksum recorded for it.

    Every way a model is loaded comes through here before skops reads the file:
    :func:`load_risk_model` (registry versions, runs, paths) and the served pyfunc model
    (``RiskListModel.load_context``: ``load_model``, ``models serve``, ``spark_udf``).

    Parameters
    ----------
    path
        The model file.
    label
        What the user asked for (``"dropout-risk v3"``, a URI or a path), for messages.
    records
        The places that record the file's checksum for this way of loading, strongest
        first (see :class:`RecordedChecksum`).
    unrecorded
        The refusal, with why and the fix, when a required record holds no checksum or
        none holds one.

    Raises
    ------
    InputError
        When no checksum is recorded, or the file does not match one that is.
    """
    present = [record for record in records if record.sha256]
    if not present or any(record.required and not record.sha256 for record in records):
        raise InputError(unrecorded)
    found = file_sha256(Path(path))
    for record in present:
        if record.sha256 != found:
            raise InputError(
                f"{label}: the model file does not match the checksum recorded {record.where}: "
                f"recorded sha256 {record.sha256[:12]}…, found {found[:12]}…, so it was changed "
                "after registration and is refused. Fix: restore the artifact store from a "
                "backup, or train and register a new version."
            )


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


@dataclass(frozen=True)
class _Place:
    """One place outside the model that records checksums: what it holds, by key."""

    where: object  # key -> the place in words
    values: Mapping
    required: bool = False

    def record(self, key: str) -> RecordedChecksum:
        return RecordedChecksum(self.where(key), str(self.values.get(key) or ""), self.required)


@dataclass(frozen=True)
class _Source:
    """Where a model URI points, and the places outside the model that record checksums."""

    uri: str
    label: str
    places: tuple[_Place, ...]
    unrecorded: str

    def records(self, key: str) -> tuple[RecordedChecksum, ...]:
        return tuple(place.record(key) for place in self.places)


def _run_params(client, run_id: str | None) -> _Place:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return run_params_place({})
    try:
        params = client.get_run(run_id).data.params
    except MlflowException:  # a version whose run was deleted keeps its own tag
        params = {}
    return run_params_place(params)


def _resolve(uri: str, config: Config) -> _Source:
    """What a model URI points at, with the checksums recorded for it outside the model.

    A registry URI (``models:/name@alias`` or ``models:/name/N``) becomes a fixed version,
    whose tag must hold the checksum (registration records it last, after every other step
    succeeded), cross-checked with its run's param. A run URI (``runs:/<run_id>/<path>``)
    is checked against its run's param and the tags of every version registered from that
    run, any of which suffices. A path or other URI has no record outside the model.
    """
    mlflow = configure(config)
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository

    if uri.startswith("runs:/"):
        client = mlflow.MlflowClient()
        try:
            run_id, _ = RunsArtifactRepository.parse_runs_uri(uri)
            client.get_run(run_id)
            versions = client.search_model_versions(f"run_id = '{run_id}'")
        except MlflowException as exc:
            raise InputError(
                f"no run for {uri} in the tracking store {tracking_uri(config)}. "
                "Fix: pass --model with an existing model URI (or set MLFLOW_TRACKING_URI to "
                "the store that holds it)."
            ) from exc
        places = [_run_params(client, run_id)] + [
            _Place(
                lambda key, v=v: (
                    f"in the tag {key} of {v.name} v{v.version}, registered from this run"
                ),
                dict(v.tags or {}),
            )
            for v in versions
        ]
        unrecorded = (
            f"{uri}: no checksum of its model file is recorded in its run (param "
            f"{CHECKSUM_TAG}), in a version registered from the run or in the model's MLmodel "
            f"(it was saved before checksums were recorded, or not by `dropout-risk train`), "
            f"{NO_CHECKSUM}. {FIX_RETRAIN}."
        )
        return _Source(uri, uri, tuple(places), unrecorded)
    if not uri.startswith("models:/"):
        # nothing outside the model vouches for a path: only its own MLmodel is checked
        return _Source(uri, uri, (), unrecorded_in_model(uri))
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
    return version_source(
        version.name, version.version, version.tags or {}, _run_params(client, version.run_id)
    )


def version_source(name: str, number, tags: Mapping, run_params: _Place) -> _Source:
    """A registry version and its records: its tag (required) and its run's params."""
    label = f"{name} v{number}"
    unrecorded = (
        f"{label}: the version has no tag {CHECKSUM_TAG} (it was registered before checksums "
        f"were recorded, or not by `dropout-risk train`), {NO_CHECKSUM}. {FIX_RETRAIN}."
    )
    tag = _Place(_tag_where, dict(tags), required=True)
    return _Source(f"models:/{name}/{number}", label, (tag, run_params), unrecorded)


def run_params_place(params: Mapping) -> _Place:
    """A run's params as the place that records checksums."""
    return _Place(_run_where, dict(params))


@dataclass(frozen=True)
class FetchedModel:
    """A model's files on local disk, with what vouches for its model file.

    Plain data (no MLflow object), so another process can fetch it (pipeline.registry.prefetch).
    """

    uri: str  # the fixed URI (a version, a run or a path)
    label: str
    packed: str  # the model file
    records: tuple[RecordedChecksum, ...]
    unrecorded: str  # why it is refused when nothing records a checksum
    # the model as arrays ("" when it has none) and what records its checksum
    arrays: str = ""
    arrays_records: tuple[RecordedChecksum, ...] = ()

    def to_dict(self) -> dict:
        return {
            "uri": self.uri,
            "label": self.label,
            "packed": self.packed,
            "records": [vars(r) for r in self.records],
            "unrecorded": self.unrecorded,
            "arrays": self.arrays,
            "arrays_records": [vars(r) for r in self.arrays_records],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> FetchedModel:
        records = tuple(RecordedChecksum(**r) for r in data["records"])
        arrays_records = tuple(RecordedChecksum(**r) for r in data.get("arrays_records", ()))
        return cls(
            data["uri"],
            data["label"],
            data["packed"],
            records,
            data["unrecorded"],
            data.get("arrays", ""),
            arrays_records,
        )

    def arrays_vouched_for(self) -> bool:
        """Whether the arrays file exists and every place that records the model file's
        checksum records the arrays file's too (else only the model file is read)."""
        if not self.arrays:
            return False
        # both are recorded by the same places, in the same order (fetch_model)
        pairs = list(zip(self.records, self.arrays_records, strict=True))
        return any(r.sha256 for r, _ in pairs) and all(a.sha256 for r, a in pairs if r.sha256)


def fetch_model(uri: str, config: Config, dst: Path) -> FetchedModel:
    """Resolve ``uri`` and bring its files into ``dst`` (a path is used where it is).

    Everything of a load that needs MLflow: the registry or run lookup, the checksums
    recorded for the model and the download. :func:`open_model` does the rest.

    Raises
    ------
    InputError
        When no such model exists or it is not a dropout-risk model, with the fix.
    """
    from pipeline.registry.sqlite_registry import read_version

    # a registry version in a local SQLite store is read without importing MLflow
    direct = read_version(uri, tracking_uri(config))
    if direct is not None:
        source, local, model_config = direct
        return fetched_files(source, local, model_config)
    mlflow = configure(config)
    from mlflow.exceptions import MlflowException

    source = _resolve(uri, config)
    fixed = source.uri
    try:
        local = Path(fixed) if Path(fixed).is_dir() else None
        if local is None:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=fixed, dst_path=str(dst)))
    except (MlflowException, OSError) as exc:
        raise InputError(
            f"could not load the model at {fixed}: {exc}. Fix: pass --model with a model saved by `dropout-risk train`."
        ) from exc
    from pipeline.registry.sqlite_registry import read_model_config

    return fetched_files(source, local, read_model_config(local))


def fetched_files(source: _Source, local: Path, model_config: Mapping) -> FetchedModel:
    """The model files in the model directory ``local``, with every record of their
    checksums (``model_config``: the pyfunc config its MLmodel holds)."""
    fixed, label = source.uri, source.label
    packed, unrecorded = local / "artifacts" / RISK_MODEL_FILE, source.unrecorded
    if not packed.is_file() and (local / "model.skops").is_file():
        packed = local / "model.skops"
        unrecorded = (
            f"{label}: a model of the sklearn flavour (model.skops), saved by an earlier "
            f"version of dropout-risk before checksums were recorded, {NO_CHECKSUM}. "
            f"{FIX_RETRAIN}."
        )
    elif not packed.is_file():
        raise InputError(
            f"{fixed} is not a dropout-risk model (no {RISK_MODEL_FILE}). "
            "Fix: pass --model with a model saved by `dropout-risk train`."
        )
    records = (*source.records(CHECKSUM_TAG), model_config_record(model_config))
    arrays = packed.with_name(ARRAYS_FILE)
    if not arrays.is_file():
        return FetchedModel(fixed, label, str(packed), records, unrecorded)
    arrays_records = (
        *source.records(ARRAYS_CHECKSUM_TAG),
        model_config_record(model_config, ARRAYS_CHECKSUM_TAG),
    )
    return FetchedModel(fixed, label, str(packed), records, unrecorded, str(arrays), arrays_records)


def open_model(fetched: FetchedModel, *, scoring: bool = False) -> LoadedModel:
    """Check the fetched model file against every recorded checksum, then read it.

    With ``scoring``, a model that also holds its array form (:mod:`models.array_model`),
    recorded wherever its model file is, is read from that instead (checked the same
    way): what `score` needs, without importing scikit-learn or skops.
    """
    if scoring and fetched.arrays_vouched_for():
        arrays = Path(fetched.arrays)
        verify_model_file(arrays, fetched.label, fetched.arrays_records, fetched.unrecorded)
        return LoadedModel(
            model=load_array_model(arrays), uri=fetched.uri, version_label=fetched.label
        )
    packed = Path(fetched.packed)
    verify_model_file(packed, fetched.label, fetched.records, fetched.unrecorded)
    return LoadedModel(model=load_skops_model(packed), uri=fetched.uri, version_label=fetched.label)


def load_array_model(path: Path):
    """Read a model's array form (numbers and a JSON header; no pickle is read).

    Raises
    ------
    InputError
        When the file is not such a model, or of a format this version cannot read.
    """
    from models.array_model import load_arrays

    try:
        return load_arrays(Path(path))
    except Exception as exc:  # numpy and json raise several types for a corrupt file
        raise InputError(
            f"{path}: not a dropout-risk array model this version can read "
            f"({type(exc).__name__}: {exc}). Fix: pass --model with a model registered by "
            "`dropout-risk train`."
        ) from exc


def load_risk_model(uri: str, config: Config, *, scoring: bool = False) -> LoadedModel:
    """Load a RiskModel from the registry (``models:/…``), a run, or a path the user named.

    The registered model is an MLflow pyfunc model (pipeline.registry.serving); its RiskModel is
    the skops file among its artifacts. The file is loaded only when it matches the checksums
    recorded for it (:func:`verify_model_file`); models of the sklearn flavour, registered
    by earlier versions before checksums were recorded, are refused.

    Raises
    ------
    InputError
        When no such model exists, or its file is unchecked or changed (exit status 2),
        with the fix.
    """
    with tempfile.TemporaryDirectory(prefix="dropout-model-") as tmp:
        return open_model(fetch_model(uri, config, Path(tmp)), scoring=scoring)
