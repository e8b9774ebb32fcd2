"""Loading models: only from the registry or a named path, and only untampered files."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from configs.errors import InputError
from pipeline.registry.tracking import CHECKSUM_TAG, RISK_MODEL_FILE, file_sha256, load_risk_model


def _stored_model_file(trained) -> tuple[str, str, Path]:
    """The registered champion's skops file as it lies in the artifact store (./mlruns)."""
    client = mlflow.MlflowClient(tracking_uri=trained["uri"])
    version = client.get_model_version_by_alias("dropout-risk", "champion")
    recorded = version.tags[CHECKSUM_TAG]
    stored = [
        p for p in (trained["root"] / "mlruns").rglob(RISK_MODEL_FILE) if file_sha256(p) == recorded
    ]
    assert len(stored) == 1, stored
    return str(version.version), recorded, stored[0]


def test_the_checksum_recorded_at_registration_matches_the_stored_file(trained):
    number, recorded, path = _stored_model_file(trained)
    assert len(recorded) == 64 and path.stat().st_size > 1000
    loaded = load_risk_model(f"models:/dropout-risk/{number}", trained["config"])
    assert loaded.version_label == f"dropout-risk v{number}"


def test_a_tampered_model_file_is_refused_with_the_fix(trained):
    number, _, path = _stored_model_file(trained)
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\0")
        with pytest.raises(InputError) as caught:
            load_risk_model("models:/dropout-risk@champion", trained["config"])
        message = str(caught.value)
        assert f"dropout-risk v{number}: the model file does not match the checksum" in message
        assert "refused" in message and "Fix: restore the artifact store" in message
    finally:
        path.write_bytes(original)
    # restored: loads again, as the same version
    restored = load_risk_model("models:/dropout-risk@champion", trained["config"])
    assert restored.version_label == f"dropout-risk v{number}"
    assert hasattr(restored.model, "predict_and_explain")
