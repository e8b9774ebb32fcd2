"""Real servers for the tests: free ports, process groups, PostgreSQL and an MLflow server.

Everything started here listens on 127.0.0.1 only, lives in a temporary directory and is
stopped (with its child processes) when its context manager exits, pass or fail.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

# The interpreter's bin/ (the venv's when run from it): not resolved, since the venv's
# python is a symlink to the system one and the console scripts sit beside the link.
VENV_BIN = Path(sys.executable).parent
APT_INSTALL_POSTGRES = (
    "apt-get update && DEBIAN_FRONTEND=noninteractive "
    "apt-get install -y --no-install-recommends postgresql"
)
PG_USER = "dropout_risk"
PG_DATABASE = "mlflow"


# ---------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def venv_env(**overrides: str) -> dict[str, str]:
    """The current environment with the venv's ``bin/`` first on PATH, plus ``overrides``.

    Servers started from the venv exec its console scripts (``uvicorn``, ``gunicorn``) by
    name, so they must be found on PATH even when the venv is not activated.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    env.update(overrides)
    return env


def tail(path: Path | None, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' when there is none)."""
    if path is None or not Path(path).exists():
        return ""
    text = Path(path).read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def start_process(
    cmd: Sequence[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen:
    """Start ``cmd`` in its own session, stdout and stderr going to ``log_path``.

    A file, not a pipe: a chatty server would block once a pipe's buffer filled. Its own
    session makes the process a group leader, so :func:`stop_process_tree` reaches the
    workers it forks.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )


def _output_file(proc: subprocess.Popen) -> Path | None:
    """The regular file a running process writes its stdout to (Linux), if any."""
    with contextlib.suppress(OSError):
        target = Path(os.readlink(f"/proc/{proc.pid}/fd/1"))
        if target.is_file():
            return target
    return None


def _process_output(proc: subprocess.Popen, log_path: Path | None) -> str:
    if log_path is not None:
        return tail(log_path)
    if proc.stdout is not None or proc.stderr is not None:
        out, err = proc.communicate(timeout=5)
        return "\n".join(
            part.decode(errors="replace") if isinstance(part, bytes) else part
            for part in (out, err)
            if part
        )
    return "(output not captured)"


def wait_for_http(
    url: str,
    timeout_s: float,
    proc: subprocess.Popen | None = None,
    *,
    log_path: Path | None = None,
) -> None:
    """Poll ``url`` until a GET answers with a status below 500.

    Parameters
    ----------
    url
        The address to poll.
    timeout_s
        Give up after this many seconds.
    proc
        The server process: when it exits first, fail at once with its output.
    log_path
        Where ``proc`` writes its output (see :func:`start_process`); when omitted, the
        file its stdout was redirected to (found through ``/proc``) or else its pipes.

    Raises
    ------
    pytest.fail.Exception
        When the process exits or the time runs out, with the server's output tail.
    """
    if proc is not None and log_path is None and proc.poll() is None:
        log_path = _output_file(proc)
    deadline = time.monotonic() + timeout_s
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(
                f"server exited with status {proc.returncode} before {url} answered:\n"
                f"{_process_output(proc, log_path)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status < 500:
                    return
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            last_error = f"HTTP {exc.code}"
        except (OSError, urllib.error.URLError) as exc:
            last_error = repr(exc)
        time.sleep(0.5)
    output = _process_output(proc, log_path) if proc is not None else ""
    pytest.fail(f"{url} did not answer within {timeout_s:.0f} s (last: {last_error})\n{output}")


def stop_process_tree(proc: subprocess.Popen, timeout_s: float = 15) -> None:
    """Stop ``proc`` and everything in its process group: SIGTERM, then SIGKILL.

    ``proc`` should have been started with ``start_new_session=True`` (as
    :func:`start_process` does) so that its group holds its workers and nothing else;
    otherwise only ``proc`` itself is signalled.
    """

    def signal_group(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if own_group:
                os.killpg(proc.pid, sig)
            elif proc.poll() is None:
                proc.send_signal(sig)

    try:
        own_group = os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:  # already gone and reaped; its group may still hold workers
        own_group = True
    signal_group(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        signal_group(signal.SIGKILL)
        proc.wait(timeout=timeout_s)
    # workers that outlived their parent (or ignored SIGTERM) are still in the group
    if own_group:
        deadline = time.monotonic() + timeout_s
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        signal_group(signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in the group.

    Zombies count as alive for ``kill(0)`` but are only waiting for their new parent to
    reap them, which some container inits do slowly; ``/proc`` tells them apart.
    """
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # after the command name (in parentheses): state, ppid, pgrp, ...
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


# ---------------------------------------------------------------- PostgreSQL


def _postgres_bin_dir() -> Path | None:
    """Debian's newest PostgreSQL server binaries (``/usr/lib/postgresql/<major>/bin``)."""
    found = [
        Path(p).parent
        for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if (Path(p).parent / "pg_ctl").exists()
    ]

    def major(path: Path) -> int:
        version = path.parent.name
        return int(version) if version.isdigit() else 0

    return max(found, key=major) if found else None


def _install_postgres() -> None:
    """Install Debian's postgresql with apt (CI only), with sudo when not root."""
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            pytest.fail(
                "PostgreSQL is not installed and this user can neither install it (not root, "
                f"no sudo). Install it first: {APT_INSTALL_POSTGRES}"
            )
        prefix = ["sudo", "-n"]
    steps = [
        [*prefix, "apt-get", "update"],
        [
            *prefix,
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "--no-install-recommends",
            "postgresql",
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(
                f"installing PostgreSQL failed ({' '.join(step)}, status {done.returncode}):\n"
                f"{(done.stdout + done.stderr)[-3000:]}"
            )


def find_or_install_postgres() -> Path:
    """The PostgreSQL server binaries; installed with apt on CI, else the tests skip.

    Returns
    -------
    Path
        The directory holding ``initdb`` and ``pg_ctl``.
    """
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        if os.environ.get("CI", "").lower() != "true":
            pytest.skip(
                f"PostgreSQL server binaries not found; install them: {APT_INSTALL_POSTGRES}"
            )
        _install_postgres()
        bin_dir = _postgres_bin_dir()
        if bin_dir is None:
            pytest.fail("apt installed postgresql but no /usr/lib/postgresql/*/bin/initdb exists")
    return bin_dir


def _run(cmd: Sequence[str], what: str, timeout_s: float = 120) -> None:
    done = subprocess.run(
        list(cmd), capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        pytest.fail(
            f"{what} failed (status {done.returncode}): {' '.join(cmd)}\n"
            f"{(done.stdout + done.stderr)[-3000:]}"
        )


@contextlib.contextmanager
def postgres_server(workdir: Path | None = None) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1, yielding its SQLAlchemy URL.

    A fresh cluster (trust authentication for 127.0.0.1 and the private Unix socket only,
    UTF8, fsync off: the data is thrown away) is created in a temporary directory, started
    on a free port and given one database. PostgreSQL refuses to run as root, so as root
    the cluster belongs to the ``postgres`` system user (created by Debian's package) and
    the server commands run through ``runuser``. The cluster is stopped and its directory
    removed on exit.

    Parameters
    ----------
    workdir
        Where to make the cluster's directory (default: the system's temporary directory).
        As root it must be reachable by the ``postgres`` user; when it is not, the system's
        temporary directory is used.

    Yields
    ------
    str
        ``postgresql+psycopg://USER@127.0.0.1:PORT/DB``.
    """
    bin_dir = find_or_install_postgres()
    as_postgres: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail(
                "running as root, but there is no `postgres` system user to own the cluster"
            )
        as_postgres = ["runuser", "-u", "postgres", "--"]

    root = Path(tempfile.mkdtemp(prefix="pg-", dir=workdir))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
        reachable = subprocess.run([*as_postgres, "test", "-w", str(root)], check=False)
        if reachable.returncode != 0:  # e.g. under pytest's private (0700) tmp_path
            shutil.rmtree(root, ignore_errors=True)
            root = Path(tempfile.mkdtemp(prefix="pg-"))
            os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "server.log"
    started = False
    try:
        _run(
            [
                *as_postgres,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                PG_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )
        # only the private socket and 127.0.0.1: no other host, no IPv6, no replication
        (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        for attempt in range(3):  # the free port may be taken before the server binds it
            port = free_port()
            settings = (
                f"-c listen_addresses=127.0.0.1 -p {port} -k '{root}' "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            start = subprocess.run(
                [
                    *as_postgres,
                    str(bin_dir / "pg_ctl"),
                    "start",
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    settings,
                ],
                capture_output=True,
                text=True,
                timeout=90,
            )
            if start.returncode == 0:
                started = True
                break
            if attempt == 2 or "already in use" not in tail(log):
                pytest.fail(
                    f"pg_ctl start failed (status {start.returncode}):\n"
                    f"{start.stdout}{start.stderr}\n{tail(log)}"
                )
        _run(
            [
                str(bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                PG_USER,
                PG_DATABASE,
            ],
            "createdb",
        )
        yield f"postgresql+psycopg://{PG_USER}@127.0.0.1:{port}/{PG_DATABASE}"
    finally:
        if started:
            subprocess.run(
                [*as_postgres, str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- MLflow


def mlflow_command() -> list[str]:
    """The venv's ``mlflow`` console script (or ``python -m mlflow`` without one)."""
    script = VENV_BIN / "mlflow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlflow"]


@contextlib.contextmanager
def mlflow_tracking_server(
    backend_uri: str,
    artifacts_dir: Path,
    *,
    workdir: Path | None = None,
    timeout_s: float = 120,
    job_execution: bool = False,
) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 with proxied artifacts, yielding its URL.

    Parameters
    ----------
    backend_uri
        The tracking and registry store (e.g. :func:`postgres_server`'s URL). A fresh
        database is migrated at first start, which takes most of the start-up time.
    artifacts_dir
        Where the server writes the artifacts clients upload (``--artifacts-destination``).
    workdir
        The server's working directory and where its log goes (default: the parent of
        ``artifacts_dir``).
    timeout_s
        How long to wait for ``/health``.
    job_execution
        Whether the server runs its job executor (GenAI scorers, trace roll-ups). Off by
        default: it starts seven huey consumer processes that compete with the tests for CPU.

    Yields
    ------
    str
        ``http://127.0.0.1:PORT``.
    """
    artifacts_dir = Path(artifacts_dir).resolve()
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(workdir) if workdir is not None else artifacts_dir.parent
    log = workdir / "mlflow-server.log"
    # the server must not pick up a client-side store from the caller's environment
    env = venv_env()
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        env.pop(key, None)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "true" if job_execution else "false"
    for attempt in range(3):  # the free port may be taken before uvicorn binds it
        port = free_port()
        cmd = [
            *mlflow_command(),
            "server",
            "--backend-store-uri",
            backend_uri,
            "--artifacts-destination",
            artifacts_dir.as_uri(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        log.write_text("")
        proc = start_process(cmd, log, env=env, cwd=workdir)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{url}/health", timeout_s, proc, log_path=log)
            break
        except BaseException:
            stop_process_tree(proc)
            if attempt < 2 and "address already in use" in tail(log, 200).lower():
                continue
            raise
    try:
        yield url
    finally:
        stop_process_tree(proc)
