"""Applying a preprocessing plan: categorical values to the one-hot rows of their level."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.encoding import Categorical, EncodePlan, Numeric, apply_plan


def _plan(levels: list[str], fill: str) -> EncodePlan:
    empty = np.zeros(0)
    numeric = Numeric([], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                      empty, empty, empty, empty, empty, empty, empty)  # fmt: skip
    rows = np.vstack([np.eye(len(levels)), np.full(len(levels), -1.0)])  # pooled: last
    cat = Categorical("c", slice(0, len(levels)), fill, pd.Index(levels, dtype=object), rows)
    return EncodePlan(width=len(levels), numeric=numeric, categorical=[cat], others=[])


def _level_of(encoded: np.ndarray, levels: list[str]) -> list[str]:
    return [levels[int(np.argmax(row))] if row.max() > 0 else "pooled" for row in encoded]


def test_text_values_read_as_their_level_blank_as_the_fill_unknown_pooled():
    levels = ["a", "b", "missing"]
    plan = _plan(levels, "missing")
    X = pd.DataFrame({"c": np.array(["b", None, "a", "z", np.nan, "b", "A"], dtype=object)})
    got = _level_of(apply_plan(plan, X), levels)
    assert got == ["b", "missing", "a", "pooled", "missing", "b", "pooled"]


def test_other_values_are_read_as_their_text_one_by_one():
    # 1, 1.0 and True are one key to a hash table but three texts to the model
    levels = ["1", "1.0", "True", "missing"]
    plan = _plan(levels, "missing")
    X = pd.DataFrame({"c": np.array([1, 1.0, True, None, "1.0"], dtype=object)})
    got = _level_of(apply_plan(plan, X), levels)
    assert got == ["1", "1.0", "True", "missing", "1.0"]
