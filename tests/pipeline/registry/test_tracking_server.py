"""A team's tracking server: train, promote and score against a real `mlflow server`.

PostgreSQL (Debian's, installed by the test setup on CI) holds the tracking store and the
registry; the server proxies artifacts into a directory of its own. The real
`dropout-risk` command runs as a subprocess with only ``MLFLOW_TRACKING_URI`` pointing at
the server, from an empty working directory, so a local ``mlflow.db`` or ``mlruns/`` could
not be used without being noticed. The steps build on each other: each is a module-scoped
fixture that runs once, and each test checks what one step should have done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.servers import VENV_BIN, mlflow_tracking_server, postgres_server, venv_env

pytestmark = [pytest.mark.tracking_server, pytest.mark.slow]

MODEL = "dropout-risk"
EXPERIMENT = "dropout-risk"
LOCAL_STORES = ("mlflow.db", "mlruns", "mlartifacts")
# a small search keeps each training run short; every candidate still takes part
SMALL_CONFIG = (
    "training:\n  bootstrap: 20\n  cv_folds: 3\n  search:\n    configs_per_candidate: 1\n"
    # the back-test of a 1,500-client export (about 300 held-out clients) is too noisy for
    # the default calibration bounds; this test is about the server path, not the bounds
    "promotion:\n  calibration_slope: [0.5, 2.0]\n  calibration_in_the_large: 0.2\n"
)
TIMINGS: dict[str, float] = {}


@dataclasses.dataclass
class Workspace:
    """Where the commands run and the server they talk to."""

    cwd: Path
    env: dict[str, str]
    tracking_uri: str
    database_url: str
    artifacts_dir: Path

    def client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def aliases(self) -> dict[str, str]:
        """The registered model's aliases, alias → version."""
        return {k: str(v) for k, v in self.client().get_registered_model(MODEL).aliases.items()}

    def versions(self) -> list[str]:
        found = self.client().search_model_versions(f"name = '{MODEL}'")
        return sorted((str(v.version) for v in found), key=int)


@dataclasses.dataclass
class Step:
    """One command's outcome and the registry's state right after it."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    aliases: dict[str, str]
    versions: list[str]

    @property
    def text(self) -> str:
        """Everything it printed, whitespace collapsed (the console wraps long lines)."""
        return " ".join(f"{self.stdout}\n{self.stderr}".split())

    def explain(self, lines: int = 30) -> str:
        def last(text: str) -> str:
            return "\n".join(text.splitlines()[-lines:])

        return (
            f"`dropout-risk {' '.join(self.args)}` exited {self.returncode}\n"
            f"--- stdout (tail) ---\n{last(self.stdout)}\n--- stderr (tail) ---\n{last(self.stderr)}"
        )


@contextlib.contextmanager
def _timed(name: str):
    started = time.monotonic()
    try:
        yield
    finally:
        TIMINGS[name] = time.monotonic() - started


def _decoded(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else (output or "")


def _local_stores(cwd: Path) -> list[str]:
    return [name for name in LOCAL_STORES if (cwd / name).exists()]


def _dropout_risk(ws: Workspace, name: str, *args: str, timeout_s: float = 900) -> Step:
    """Run the real command in the workspace; its registry state is read right after."""
    command = VENV_BIN / "dropout-risk"
    assert command.exists(), f"{command} is missing: install the project (make install)"
    from mlflow.exceptions import MlflowException

    with _timed(name):
        try:
            done = subprocess.run(
                [str(command), *args],
                cwd=ws.cwd,
                env=ws.env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            late = Step(tuple(args), -1, _decoded(exc.stdout), _decoded(exc.stderr), {}, [])
            pytest.fail(f"timed out after {timeout_s:.0f} s\n{late.explain()}", pytrace=False)
    try:
        aliases, versions = ws.aliases(), ws.versions()
    except MlflowException:  # nothing registered yet (e.g. after synth)
        aliases, versions = {}, []
    step = Step(tuple(args), done.returncode, done.stdout, done.stderr, aliases, versions)
    local = _local_stores(ws.cwd)
    assert not local, f"{name} wrote a local MLflow store {local} in {ws.cwd}\n{step.explain()}"
    return step


def _require_success(step: Step) -> Step:
    if step.returncode != 0:
        pytest.fail(step.explain(), pytrace=False)
    return step


# ---------------------------------------------------------------- servers and steps


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """PostgreSQL → `mlflow server` on it → an empty working directory for the commands."""
    root = tmp_path_factory.mktemp("tracking-server")
    cwd = root / "work"
    cwd.mkdir()
    (cwd / "small.yaml").write_text(SMALL_CONFIG)
    with contextlib.ExitStack() as servers:
        with _timed("postgres start"):
            database_url = servers.enter_context(postgres_server(root))
        with _timed("mlflow server start"):
            tracking_uri = servers.enter_context(
                mlflow_tracking_server(database_url, root / "artifacts", workdir=root)
            )
        # only the tracking URI points at the server; wide lines keep tables unwrapped
        env = venv_env(MLFLOW_TRACKING_URI=tracking_uri, COLUMNS="200")
        for key in ("MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
            env.pop(key, None)
        yield Workspace(cwd, env, tracking_uri, database_url, root / "artifacts")
    print("\ntracking-server timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in TIMINGS.items()))


@pytest.fixture(scope="module")
def cohort(workspace):
    step = _dropout_risk(
        workspace, "synth", "synth", "--out", "data", "--n-clients", "1500", "--seed", "11"
    )
    return _require_success(step)


TRAIN_ARGS = (
    "--clients",
    "data/clients.csv",
    "--sessions",
    "data/sessions.csv",
    "--config",
    "small.yaml",
)


@pytest.fixture(scope="module")
def first_train(workspace, cohort):
    return _require_success(_dropout_risk(workspace, "train 1", "train", *TRAIN_ARGS))


@pytest.fixture(scope="module")
def second_train(workspace, first_train):
    return _require_success(_dropout_risk(workspace, "train 2", "train", *TRAIN_ARGS))


@pytest.fixture(scope="module")
def promotion(workspace, second_train):
    # not _require_success: the promotion tests report the exit status themselves
    return _dropout_risk(workspace, "promote", "promote", *TRAIN_ARGS)


@pytest.fixture(scope="module")
def scored(workspace, promotion):
    if promotion.returncode != 0:
        pytest.fail(f"scoring needs the promoted champion, but:\n{promotion.explain()}")
    step = _dropout_risk(
        workspace,
        "score",
        "score",
        "--clients",
        "data/clients.csv",
        "--sessions",
        "data/sessions.csv",
        "--out",
        "out/risk.csv",
    )
    return _require_success(step)


# ---------------------------------------------------------------- the steps' effects


def test_synth_writes_the_cohort(workspace, cohort):
    clients = pd.read_csv(workspace.cwd / "data" / "clients.csv")
    assert len(clients) == 1500
    assert (workspace.cwd / "data" / "sessions.csv").stat().st_size > 0


def test_first_train_makes_version_1_challenger_and_champion(first_train):
    assert first_train.versions == ["1"], first_train.explain()
    assert first_train.aliases == {"challenger": "1", "champion": "1"}, (
        f"an empty registry's first version is both challenger and champion; "
        f"aliases {first_train.aliases}\n{first_train.explain()}"
    )


def test_second_train_is_challenger_and_champion_stays(workspace, second_train):
    assert second_train.versions == ["1", "2"], second_train.explain()
    assert second_train.aliases == {"challenger": "2", "champion": "1"}, (
        f"a new version is only the challenger until promoted; aliases {second_train.aliases}\n"
        f"{second_train.explain()}"
    )
    client = workspace.client()
    assert client.get_model_version_by_alias(MODEL, "champion").version in ("1", 1)
    assert client.get_model_version_by_alias(MODEL, "challenger").version in ("2", 2)


def test_promote_moves_champion_when_the_gates_pass(workspace, promotion):
    assert promotion.returncode == 0, (
        "identical data, config and seed give an identical challenger, so every gate passes "
        f"(0 = promoted, 4 = refused)\n{promotion.explain()}"
    )
    assert promotion.aliases.get("champion") == "2", (
        f"aliases after promote: {promotion.aliases}\n{promotion.explain()}"
    )
    version = workspace.client().get_model_version_by_alias(MODEL, "champion").version
    assert str(version) == "2"


def test_promote_prints_the_gates(promotion):
    text = promotion.text.lower()
    missing = [g for g in ("auroc", "calibration slope", "subgroup", "drift") if g not in text]
    assert not missing, f"the decision table does not mention {missing}\n{promotion.explain()}"


def test_promote_logs_its_decision(workspace, promotion):
    client = workspace.client()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None, f"no experiment {EXPERIMENT!r} on the server"
    runs = client.search_runs(
        [experiment.experiment_id], filter_string="attributes.run_name LIKE 'promote%'"
    )
    assert runs, f"no run named promote* in {EXPERIMENT!r}\n{promotion.explain()}"
    recorded = [
        {**run.data.tags, **run.data.params}
        for run in runs
        if "promotion_decision" in run.data.params or "promotion_decision" in run.data.tags
    ]
    assert recorded, (
        f"no promote run records promotion_decision: "
        f"{[(r.info.run_name, r.data.params) for r in runs]}"
    )
    assert recorded[0]["promotion_decision"] == "promoted", recorded[0]
    assert recorded[0].get("forced") == "false", recorded[0]


def test_score_uses_the_promoted_champion(workspace, scored):
    risk = pd.read_csv(workspace.cwd / "out" / "risk.csv", dtype=str, keep_default_na=False)
    clients = pd.read_csv(workspace.cwd / "data" / "clients.csv", dtype=str, keep_default_na=False)
    active = clients[(clients["discharge_date"] == "") & (clients["discharge_reason"] == "")]
    assert len(risk) == len(active), (
        f"{len(risk)} rows for {len(active)} active clients\n{scored.explain()}"
    )
    assert set(risk["client_id"]) == set(active["client_id"])
    versions = risk["model_version"].unique().tolist()
    assert versions == [f"{MODEL} v2"], f"model_version {versions}\n{scored.explain()}"


def test_artifacts_live_on_the_server(workspace, second_train):
    models = sorted(workspace.artifacts_dir.rglob("MLmodel"))
    assert len(models) >= 2, (
        f"expected both trained models under {workspace.artifacts_dir}, found {models}"
    )
    assert list(workspace.artifacts_dir.rglob("report.html")), "no evaluation report uploaded"
    experiment = workspace.client().get_experiment_by_name(EXPERIMENT)
    assert experiment.artifact_location.startswith("mlflow-artifacts:"), (
        f"artifacts are not proxied by the server: {experiment.artifact_location}"
    )


def test_registry_lives_in_postgres(workspace, second_train):
    import psycopg

    conninfo = workspace.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo) as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM registered_models")]
        versions = connection.execute(
            "SELECT count(*) FROM model_versions WHERE name = %s", (MODEL,)
        ).fetchone()[0]
    assert MODEL in names, f"registered models in PostgreSQL: {names}"
    assert versions >= 2


def test_no_local_store_was_written(workspace, second_train):
    local = _local_stores(workspace.cwd)
    assert not local, f"local MLflow stores in the working directory: {local}"
    unexpected = {p.name for p in workspace.cwd.iterdir()} - {"data", "out", "small.yaml"}
    assert not unexpected, f"the commands left {sorted(unexpected)} in {workspace.cwd}"
