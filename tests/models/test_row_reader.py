"""A frame's rows read as to_dict("records") would give them, one at a time."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.row_reader import RowReader


def test_rows_read_as_records_would():
    frame = pd.DataFrame(
        {
            "n": [1.5, np.nan],
            "k": [3, 4],
            "flag": [True, False],
            "text": pd.Series(["a", None], dtype="str"),
            "when": pd.to_datetime(["2026-01-05", None]),
        }
    )
    rows = RowReader(frame)
    assert len(rows) == 2
    first, second = rows[0], rows[1]
    assert first["n"] == 1.5 and math.isnan(second["n"])
    assert first["k"] == 3.0 and bool(first["flag"]) is True and bool(second["flag"]) is False
    assert first["text"] == "a" and second["text"] is None
    assert second["when"] is None and first["when"] == pd.Timestamp("2026-01-05")
    assert "n" in first and "other" not in first
    assert first.get("other", "none") == "none" and first.get("k") == 3.0
    with pytest.raises(KeyError):
        first["other"]
