"""A registry version read straight from a local SQLite MLflow store, without MLflow.

Importing MLflow and opening its store take about 3 s on 2 cores, nearly all of a small
caseload's `score` run, while what a registry URI needs is four small reads: the alias's
version, the version's tags and model directory, and its run's params. For the default
store (a local SQLite file whose artifacts lie on local disk), :func:`read_version` does
those reads itself, read-only, with the standard library. It reads only a database of
the schema revision it was written against (``KNOWN_SCHEMA``, MLflow's migration of the
pinned release; a test fails when a new MLflow moves it); for any other store, URI or
schema, or anything unexpected, it answers None and the caller goes through MLflow's
client as before. The model found is checked against every recorded checksum exactly as
one found through MLflow (``pipeline.registry.tracking.open_model``).
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

# MLflow's alembic revision of the store schema these queries are written for
KNOWN_SCHEMA = "dc11669786a5"
DEFAULT_WORKSPACE = "default"
_VERSION_NUMBER = re.compile(r"[0-9]+")


def sqlite_path(tracking: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (None for any other URI)."""
    if not tracking.startswith("sqlite:///") or "?" in tracking:
        return None
    path = Path(unquote(tracking[len("sqlite:///") :]))
    return path if path.is_file() else None


def parse_registry_uri(uri: str) -> tuple[str, str | None, str | None] | None:
    """``models:/name@alias`` or ``models:/name/N`` as (name, alias, number), else None."""
    if not uri.startswith("models:/"):
        return None
    ref = uri[len("models:/") :]
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return (name, alias, None) if name and alias else None
    name, _, number = ref.rpartition("/")
    return (name, None, number) if name and _VERSION_NUMBER.fullmatch(number) else None


def _local_directory(location: str | None) -> Path | None:
    if not location:
        return None
    parsed = urlparse(location)
    if parsed.scheme == "file":
        location = unquote(parsed.path)
    elif parsed.scheme and len(parsed.scheme) > 1:  # s3://, models:/, http://: not local
        return None
    path = Path(location)
    return path if path.is_dir() else None


def read_model_config(local: Path) -> dict:
    """The pyfunc ``model_config`` in a model directory's MLmodel ({} when it has none)."""
    import yaml

    try:
        mlmodel = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8"))
        config = mlmodel["flavors"]["python_function"].get("config")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError):
        return {}
    return config if isinstance(config, dict) else {}


def read_version(uri: str, tracking: str):
    """``(source, model directory, model_config)`` of a registry URI in a local SQLite
    store, or None when this store, URI or schema is not one read here (MLflow is then
    used, and reports any error as it always did).

    ``source`` is what :func:`pipeline.registry.tracking.version_source` builds from the
    version's tags and its run's params, as the lookup through MLflow does.
    """
    from pipeline.registry.tracking import run_params_place, version_source

    database = sqlite_path(tracking)
    ref = parse_registry_uri(uri)
    workspace = os.environ.get("MLFLOW_WORKSPACE") or DEFAULT_WORKSPACE
    if database is None or ref is None or workspace != DEFAULT_WORKSPACE:
        return None
    name, alias, number = ref
    try:
        found = _read(database, name, alias, number)
    except sqlite3.Error:
        return None
    if found is None:
        return None
    version, tags, params, local = found
    source = version_source(name, version, tags, run_params_place(params))
    return source, local, read_model_config(local)


def _read(database: Path, name: str, alias: str | None, number: str | None):
    connection = sqlite3.connect(f"file:{quote(str(database))}?mode=ro", uri=True)
    try:
        (schema,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        if schema != KNOWN_SCHEMA:
            return None
        if alias is not None:
            row = connection.execute(
                "SELECT version FROM registered_model_aliases "
                "WHERE name = ? AND alias = ? AND workspace = ?",
                (name, alias, DEFAULT_WORKSPACE),
            ).fetchone()
            if row is None:
                return None
            number = str(row[0])
        row = connection.execute(
            "SELECT version, run_id, storage_location, status FROM model_versions "
            "WHERE name = ? AND version = ? AND workspace = ?",
            (name, int(number), DEFAULT_WORKSPACE),
        ).fetchone()
        if row is None or row[3] != "READY":
            return None
        version, run_id, location, _ = row
        local = _local_directory(location)
        if local is None:
            return None
        tags = dict(
            connection.execute(
                "SELECT key, value FROM model_version_tags "
                "WHERE name = ? AND version = ? AND workspace = ?",
                (name, version, DEFAULT_WORKSPACE),
            ).fetchall()
        )
        params = (
            dict(
                connection.execute(
                    "SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)
                ).fetchall()
            )
            if run_id
            else {}
        )
    finally:
        connection.close()
    return version, tags, params, local
