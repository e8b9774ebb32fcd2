"""Atomic writes: a reader never sees a half-written risk list (CONTRACT.md)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from configs.errors import InputError


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    The rename is atomic on one file system, so ``path`` holds either the old content or
    the complete new one, also when the process is killed half-way.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give it the permissions a plain write would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# the extensions write_table knows (the commands check them before any work is done)
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write CSV or Parquet, chosen by the extension, atomically."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        # booleans as the contract spells them (true / false), not Python's True / False
        flags = frame.select_dtypes("bool").columns
        text = frame.assign(**{c: frame[c].map({True: "true", False: "false"}) for c in flags})
        return atomic_write(path, lambda tmp: text.to_csv(tmp, index=False))
    if suffix in TABLE_SUFFIXES:  # .parquet or .pq
        return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    raise InputError(
        f"{path}: unknown output format {suffix!r}. Fix: end the file name in .csv or .parquet."
    )


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as CSV exactly as pandas spells it (no index), atomically.

    Unlike :func:`write_table`, booleans keep pandas' spelling (``True`` / ``False``), so
    the file is byte for byte ``frame.to_csv(index=False)``.
    """
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
