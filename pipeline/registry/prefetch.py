"""Fetching the model in a second process while `score` starts, reads and validates.

Loading a registered model means MLflow (importing it, opening the tracking store, the
registry lookup, the download: about 2-3 s on 2 cores, nearly all of it start-up), then
reading the file: the model's array form (:mod:`models.array_model`, a few milliseconds,
no scikit-learn), or for a model registered without one its skops file (importing
scikit-learn and skops first, about 3 s). :func:`start_fetch` runs the MLflow half as
``python -m pipeline.registry.prefetch`` on the other core while this process imports
the rest, reads the exports and validates them; :meth:`PendingModel.result` then checks
the file against every recorded checksum and reads it here
(:func:`pipeline.registry.tracking.open_model`), exactly as an in-process load does.
Nothing about clients crosses between the processes: the URI goes in, the model's local
paths, label and recorded checksums come out.

If the second process fails for any reason other than a refusal of the model (an
:class:`~configs.errors.InputError`, passed on as it is), the model is loaded here
instead, so the outcome is never worse than :func:`~pipeline.registry.tracking.load_risk_model`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from configs.config import Config
from configs.errors import InputError
from pipeline.registry.tracking import (
    FetchedModel,
    LoadedModel,
    fetch_model,
    load_risk_model,
    open_model,
    tracking_uri,
)


class PendingModel:
    """A model being fetched by a second process; :meth:`result` waits for it."""

    def __init__(self, uri: str, config: Config):
        self._uri, self._config = uri, config
        self._tmp = tempfile.TemporaryDirectory(prefix="dropout-model-")
        env = dict(
            os.environ,
            MLFLOW_TRACKING_URI=tracking_uri(config),
            MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
        )
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.registry.prefetch", uri, self._tmp.name],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
        )

    def result(self) -> LoadedModel:
        """The loaded model (checked against its checksums), or the refusal.

        Raises
        ------
        InputError
            No such model, or its file is unchecked or changed (as ``load_risk_model``).
        """
        out, _ = self._proc.communicate()
        answer = _last_json_line(out)
        if answer is not None and "refused" in answer:
            raise InputError(answer["refused"])
        if answer is not None and "fetched" in answer:
            return open_model(FetchedModel.from_dict(answer["fetched"]), scoring=True)
        # the second process failed otherwise (killed, broken environment): load here,
        # where any error is reported as the command reports errors
        return load_risk_model(self._uri, self._config, scoring=True)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._tmp.cleanup()

    def __enter__(self) -> PendingModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_fetch(uri: str, config: Config) -> PendingModel:
    """Start fetching the model at ``uri`` in a second process (see the module's text)."""
    return PendingModel(uri, config)


def _last_json_line(out: bytes) -> dict | None:
    for line in reversed(out.decode("utf-8", "replace").splitlines()):
        try:
            answer = json.loads(line)
        except ValueError:
            continue
        if isinstance(answer, dict):
            return answer
    return None


def main(argv: list[str]) -> int:
    """``python -m pipeline.registry.prefetch URI DIR``: fetch into DIR, answer in JSON."""
    from configs.config import load_config

    uri, folder = argv
    try:
        fetched = fetch_model(uri, load_config(), Path(folder))
    except InputError as exc:
        print(json.dumps({"refused": str(exc)}))
        return 0
    print(json.dumps({"fetched": fetched.to_dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
