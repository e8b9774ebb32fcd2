"""Reading and validating both exports, as every command that takes them does."""

from __future__ import annotations

from pathlib import Path

from configs.config import Config
from pipeline.contract.validation import ValidatedTables, validate_tables
from pipeline.io.ingest import read_table


def load_inputs(clients_path: Path, sessions_path: Path, config: Config) -> ValidatedTables:
    """Read and validate both tables (fatal problems raise InputError)."""
    clients_raw = read_table(Path(clients_path), role="clients")
    sessions_raw = read_table(Path(sessions_path), role="sessions")
    return validate_tables(
        clients_raw,
        sessions_raw,
        config.instruments,
        clients_file=Path(clients_path).name,
        sessions_file=Path(sessions_path).name,
    )
