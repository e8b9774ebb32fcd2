"""Shared constants and helpers of the synthetic-clinic tests."""

from __future__ import annotations

import hashlib

import pandas as pd

EXTRACTION = "2026-06-30"
SRS_ITEMS = [f"srs_{j}" for j in range(1, 5)]
WAI_ITEMS = [f"wai_{i}" for i in range(1, 13)]
TRUTH_COLUMNS = [
    "client_id",
    "outcome",
    "discharge_date",
    "dropout_within_horizon",
    "p_dropout",
    "p_dropout_within_horizon",
]
# sha256 of clients.to_csv() then sessions.to_csv() (index=False) for n=300, seed 3,
# computed with the generator as it was before profiles existed.
ORIGINAL_FINGERPRINT = "6794a0eae30ff81433d1f24d754b09aacedcdada76790911c8f43ac655b7e8e7"


def fingerprint(clients: pd.DataFrame, sessions: pd.DataFrame) -> str:
    """sha256 of the two tables as CSV text, clients first."""
    digest = hashlib.sha256()
    digest.update(clients.to_csv(index=False).encode())
    digest.update(sessions.to_csv(index=False).encode())
    return digest.hexdigest()
