"""Registering a trained model: an MLflow pyfunc model, a new version in the registry.

The registered unit is the pyfunc model of :mod:`pipeline.registry.serving` (saved with
models-from-code, its RiskModel as a skops file checked by SHA-256 on load), with its model
card, a synthetic input example and pinned requirements. Beside the skops file lies the
same model as arrays (:mod:`models.array_model`), which `score` reads without importing
scikit-learn or skops; its SHA-256 is recorded in the same three places under its own key.
"""

from __future__ import annotations

import importlib.metadata as md
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from configs.config import Config
from models.array_export import array_model
from models.array_model import save_arrays
from models.training import TrainingResult
from pipeline.registry.serving import PYFUNC_ENTRY, request_frame
from pipeline.registry.tracking import (
    ARRAYS_ARTIFACT,
    ARRAYS_CHECKSUM_TAG,
    ARRAYS_FILE,
    CHALLENGER,
    CHAMPION,
    CHECKSUM_TAG,
    RISK_MODEL_ARTIFACT,
    RISK_MODEL_FILE,
    alias_version,
    file_sha256,
    save_skops_model,
)
from pipeline.synthetic import generate_cohort

# writes the model card of a version number into a folder: (markdown, html, facts); the
# facts carry ``config_hash`` and ``data_fingerprint`` for the version's tags
CardWriter = Callable[[int, Path], tuple[Path, Path, object]]

PIP_REQUIREMENTS_PACKAGES = (
    "scikit-learn",
    "pandas",
    "numpy",
    "skops",
    "shap",
    "lightgbm",
    "mlflow",
)


def synthetic_request(instruments) -> pd.DataFrame:
    """A served request made of synthetic records only (the model's input example).

    A few open episodes of a generated cohort, with every id replaced: never a real row.
    """
    clients, sessions = generate_cohort(40, 1, instruments)
    active = clients[clients["discharge_reason"].isna()].head(2).copy()
    sessions = sessions[sessions["client_id"].isin(active["client_id"])].copy()
    names = {cid: f"example-client-{i + 1}" for i, cid in enumerate(active["client_id"])}
    for frame in (active, sessions):
        frame["client_id"] = frame["client_id"].map(names)
        frame["therapist_id"] = np.where(frame["therapist_id"].isna(), None, "example-therapist")
    active["site"] = "example-site"
    frame = request_frame(active, sessions)
    return frame.astype(object).where(frame.notna(), None)


@dataclass(frozen=True)
class Registered:
    version: int
    aliases: tuple[str, ...]


def _next_version(client, name: str) -> int:
    versions = client.search_model_versions(f"name = '{name}'")
    return 1 + max((int(v.version) for v in versions), default=0)


def register_model(result: TrainingResult, config: Config, write_card: CardWriter) -> Registered:
    """Log the model as an MLflow pyfunc model and register it as a new version.

    The version gets the alias ``challenger``; when the registry has no ``champion`` yet it
    also becomes the champion (there is nothing to compare it with). Its model card
    (``write_card`` writes it for a version number into a folder) is inside the model, in
    the run under ``model_card/`` and in the version's description. Must run inside the
    training run.
    """
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec

    name = config.tracking.registered_model
    client = mlflow.MlflowClient()
    signature = ModelSignature(params=ParamSchema([ParamSpec("as_of", "string", "")]))
    requirements = [f"{pkg}=={md.version(pkg)}" for pkg in PIP_REQUIREMENTS_PACKAGES]
    example = synthetic_request(config.instruments)
    with tempfile.TemporaryDirectory(prefix="dropout-model-") as tmp:
        packed = save_skops_model(result.model, Path(tmp) / RISK_MODEL_FILE)
        checksums = {CHECKSUM_TAG: file_sha256(packed)}
        artifacts = {RISK_MODEL_ARTIFACT: str(packed)}
        arrays = array_model(result.model)  # None for a model of a shape it does not know
        if arrays is not None:
            arrays_file = save_arrays(arrays, Path(tmp) / ARRAYS_FILE)
            checksums[ARRAYS_CHECKSUM_TAG] = file_sha256(arrays_file)
            artifacts[ARRAYS_ARTIFACT] = str(arrays_file)
        for _attempt in range(3):
            # the version number goes into the model (its risk lists name it), so it is
            # fixed before logging and checked after; a concurrent registration retries
            expected = _next_version(client, name)
            card_md, card_html, facts = write_card(expected, Path(tmp) / "model_card")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PYFUNC_ENTRY),
                artifacts={
                    **artifacts,
                    "model_card": str(card_md),
                    "model_card_html": str(card_html),
                },
                # the served model checks its file against this before loading it
                model_config={"version_label": f"{name} v{expected}", **checksums},
                signature=signature,
                input_example=(example, {"as_of": ""}),
                pip_requirements=requirements,
                metadata={"dropout_risk_version": md.version("dropout-risk")},
                registered_model_name=name,
            )
            version = int(info.registered_model_version)
            if version == expected:
                break
            client.delete_model_version(name, str(version))
        else:  # pragma: no cover - three registrations raced this one
            raise RuntimeError(f"could not register a version of {name}: others kept registering")
        # the run's own record of the file's checksum, which loading by run or version
        # checks: MLflow logs the model_config as params only as a best effort, and a
        # param's value can never change once logged
        mlflow.log_params(checksums)
        mlflow.log_artifacts(str(Path(tmp) / "model_card"), artifact_path="model_card")
        client.update_model_version(
            name, str(version), description=version_description(card_md.read_text("utf-8"))
        )
        tags = {
            "config_hash": facts.config_hash,
            "data_fingerprint_clients": facts.data_fingerprint["clients"],
            "data_fingerprint_sessions": facts.data_fingerprint["sessions"],
            **checksums,
            "dropout_risk_version": md.version("dropout-risk"),
        }
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    aliases = [CHALLENGER]
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    if alias_version(client, name, CHAMPION) is None:
        client.set_registered_model_alias(name, CHAMPION, str(version))
        client.set_model_version_tag(
            name, str(version), "promotion", "first version: champion (nothing to compare with)"
        )
        aliases.append(CHAMPION)
    return Registered(version=version, aliases=tuple(aliases))


# registry stores cap a version's description (PostgreSQL: varchar(5000))
DESCRIPTION_LIMIT = 5000


def version_description(card: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """The model card as the version's description: whole when it fits, else its opening
    sections cut at a line, with where the full card is."""
    if len(card) <= limit:
        return card
    pointer = (
        "\n\n… (shortened to fit the registry) The full model card is `model_card/model_card.md` "
        "and `.html` in this version's run, and `artifacts/model_card.md` inside the model.\n"
    )
    head = card[: limit - len(pointer)]
    return head[: head.rfind("\n")].rstrip() + pointer
