"""A fitted preprocessing as plain arrays, and applying it to a frame.

The plan is what :mod:`models.fast_preprocess` reads off a fitted scikit-learn
preprocessor (clip ranges, fills, missing-indicators, scalings, the encoded row of each
kept category). Applying it needs numpy and pandas only, so a model stored as arrays
(:mod:`models.array_model`) scores without importing scikit-learn. :func:`pack_plan` and
:func:`unpack_plan` turn a plan into JSON-able facts and numeric arrays and back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Numeric:
    """The numeric steps, stacked: one entry per numeric feature, in output order."""

    columns: list[str]  # the input column of each
    out_start: np.ndarray  # where its value goes in the output
    indicator_at: np.ndarray  # where its missing-indicator goes (-1: none)
    clip_low: np.ndarray  # -inf / +inf where nothing is clipped
    clip_high: np.ndarray
    fill: np.ndarray  # the value a missing entry becomes (NaN: stays missing)
    value_mean: np.ndarray  # scaling of the value (0 and 1 where not scaled)
    value_scale: np.ndarray
    indicator_mean: np.ndarray  # scaling of the indicator
    indicator_scale: np.ndarray


@dataclass(frozen=True)
class Categorical:
    """One categorical feature: each level the model kept, and the one-hot rows."""

    column: str
    where: slice
    fill: str  # what a missing value reads as
    levels: pd.Index  # the kept levels (missing included)
    rows: np.ndarray  # the encoded row of each level, then of a pooled (rare or new) one


@dataclass(frozen=True)
class EncodePlan:
    width: int
    numeric: Numeric
    categorical: list[Categorical]
    others: list[tuple[object, list[str], slice]]  # (fitted step, its columns, output slice)


def apply_plan(plan: EncodePlan, X: pd.DataFrame) -> np.ndarray:
    # column-major: every step writes whole columns
    out = np.empty((len(X), plan.width), dtype=float, order="F")
    num = plan.numeric
    if num.columns:
        block = X[num.columns]
        if (block.dtypes == np.float64).all():  # model inputs are floats already
            # a copy of its own, worked on in place below (a caseload's block is the
            # largest array here after ``out``)
            values = block.to_numpy(dtype=float, copy=True)
        else:
            values = np.empty((len(X), len(num.columns)), dtype=float, order="F")
            for j, column in enumerate(num.columns):
                values[:, j] = pd.to_numeric(block[column], errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(values)
        np.clip(values, num.clip_low, num.clip_high, out=values)  # NaN stays NaN
        fill = np.broadcast_to(num.fill, values.shape)
        np.copyto(values, fill, where=missing & ~np.isnan(num.fill))
        values -= num.value_mean
        values /= num.value_scale
        out[:, num.out_start] = values
        has = num.indicator_at >= 0
        if has.any():
            flags = missing[:, has].astype(float)
            flags -= num.indicator_mean[has]
            flags /= num.indicator_scale[has]
            out[:, num.indicator_at[has]] = flags
    for cat in plan.categorical:
        codes = _level_codes(cat, X[cat.column].to_numpy(dtype=object))
        # levels by rows, so the block lands column-major like ``out``
        out[:, cat.where] = np.take(np.ascontiguousarray(cat.rows.T), codes, axis=1).T
    for step, columns, where in plan.others:
        out[:, where] = np.asarray(step.transform(X[columns]), dtype=float)
    return out


def _level_codes(cat: Categorical, values: np.ndarray) -> np.ndarray:
    """Each value's position among the kept levels (``len(levels)``: pooled)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if all(type(u) is str for u in uniques):
        # text (the model inputs' categories): each distinct value looked up once
        positions = cat.levels.get_indexer(pd.Index([*uniques, cat.fill], dtype=object))
        found = positions[codes]  # a missing value (code -1) reads as the fill, last
    else:
        # other values as text one by one: factorize would merge 1, 1.0 and True
        # as objects: a fixed-width str array would cut the fill to its width
        text = values.astype(str).astype(object)
        text[pd.isna(values)] = cat.fill
        found = cat.levels.get_indexer(text)
    return np.where(found < 0, len(cat.levels), found)


_NUMERIC_ARRAYS = [name for name in Numeric.__dataclass_fields__ if name != "columns"]


def pack_plan(plan: EncodePlan, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    """``plan`` as JSON-able facts and named float/int arrays (names start with ``prefix``).

    Raises
    ------
    ValueError
        When the plan leaves a step to scikit-learn (``others``), which arrays cannot hold.
    """
    if plan.others:
        raise ValueError("a preprocessing step of an unknown shape cannot be stored as arrays")
    facts = {
        "width": int(plan.width),
        "numeric_columns": list(plan.numeric.columns),
        "categorical": [
            {
                "column": cat.column,
                "start": int(cat.where.start),
                "stop": int(cat.where.stop),
                "fill": cat.fill,
                "levels": [str(level) for level in cat.levels],
            }
            for cat in plan.categorical
        ],
    }
    arrays = {f"{prefix}numeric_{name}": getattr(plan.numeric, name) for name in _NUMERIC_ARRAYS}
    for i, cat in enumerate(plan.categorical):
        arrays[f"{prefix}categorical_{i}_rows"] = cat.rows
    return facts, arrays


def unpack_plan(facts: dict, arrays, prefix: str) -> EncodePlan:
    """The plan :func:`pack_plan` stored."""
    numeric = Numeric(
        columns=list(facts["numeric_columns"]),
        **{name: np.asarray(arrays[f"{prefix}numeric_{name}"]) for name in _NUMERIC_ARRAYS},
    )
    categorical = [
        Categorical(
            column=cat["column"],
            where=slice(int(cat["start"]), int(cat["stop"])),
            fill=cat["fill"],
            levels=pd.Index(list(cat["levels"]), dtype=object),
            rows=np.asarray(arrays[f"{prefix}categorical_{i}_rows"], dtype=float),
        )
        for i, cat in enumerate(facts["categorical"])
    ]
    return EncodePlan(
        width=int(facts["width"]), numeric=numeric, categorical=categorical, others=[]
    )
