"""The fitted preprocessing applied as a few array operations, column by column at once.

The models' preprocessing (``models.candidates``) is a ColumnTransformer with one small
pipeline per original feature, so that every encoded column traces back to one feature.
Applied through scikit-learn, each of the ~55 pipelines validates its input, builds a
frame and checks feature names: about 6 ms each, 0.3 s for *one* client, which is most
of the time a served request takes. The fitted parameters are simple (a range to clip
to, a median to impute, a missing-indicator, a mean and a scale; or a constant for a
column never observed; for a category, the encoded row of each level the model kept), so
:func:`encode` applies all the numeric pipelines of the known shapes in one pass over a
float matrix, reads each categorical one from its table of encoded rows, and leaves a step
of any other shape to scikit-learn, on its own column. The result equals
``preprocessor.transform(X)`` (the tests compare them on both preprocessors of
``models.candidates``); a preprocessor of another shape is transformed by scikit-learn.
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from models.candidates import (
    RARE_CATEGORY,
    ClipToSeenRange,
    FillNeverObserved,
    PoolRareCategories,
)
from models.encoding import Categorical, EncodePlan, Numeric, apply_plan

# plans and output names by fitted preprocessor; weak, so nothing is kept alive or saved
# with the model
_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_NAMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_NO_PLAN = object()


def encode(preprocessor, X: pd.DataFrame) -> np.ndarray:
    """``preprocessor.transform(X)`` as a float matrix, fast for the known step shapes."""
    key = _inner(preprocessor)  # `pipeline[:-1]` is a new Pipeline on every call
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _plan(key) or _NO_PLAN
    if plan is _NO_PLAN:
        return np.asarray(preprocessor.transform(X), dtype=float)
    return apply_plan(plan, X)


def encoded_frame(preprocessor, encoded: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """``encoded`` with the names the classifier was fitted with (the preprocessor's output
    names), as ``preprocessor.transform`` with pandas output gives it."""
    key = _inner(preprocessor)
    names = _NAMES.get(key)
    if names is None:
        names = _NAMES[key] = list(key.get_feature_names_out())
    return pd.DataFrame(encoded, index=index, columns=names, copy=False)


def _inner(preprocessor):
    """The step itself of a one-step Pipeline (``pipeline[:-1]``), else ``preprocessor``."""
    if isinstance(preprocessor, Pipeline) and len(preprocessor.steps) == 1:
        return preprocessor.steps[0][1]
    return preprocessor


def _plan(preprocessor) -> EncodePlan | None:
    """How to apply ``preprocessor``, or None when it is not of the shapes known here."""
    if not isinstance(preprocessor, ColumnTransformer) or not hasattr(
        preprocessor, "output_indices_"
    ):
        return None
    if preprocessor.remainder != "drop" or getattr(preprocessor, "sparse_output_", False):
        return None
    names = {k: [] for k in Numeric.__dataclass_fields__}
    categorical = []
    others = []
    width = 0
    for name, step, columns in preprocessor.transformers_:
        where = preprocessor.output_indices_.get(name)
        if name == "remainder" or step == "drop" or where is None or where.stop == where.start:
            continue
        width = max(width, where.stop)
        numeric = _numeric_step(step, columns, where)
        if numeric is None:
            one_hot = _categorical_step(step, columns, where)
            if one_hot is None:
                others.append((step, list(columns), where))
            else:
                categorical.append(one_hot)
            continue
        for key, value in numeric.items():
            names[key].append(value)
    numeric = Numeric(
        columns=names["columns"],
        **{
            key: np.asarray(values, dtype=int if key in ("out_start", "indicator_at") else float)
            for key, values in names.items()
            if key != "columns"
        },
    )
    return EncodePlan(width=width, numeric=numeric, categorical=categorical, others=others)


def _categorical_step(step, columns, where: slice) -> Categorical | None:
    """One categorical feature's encoding, when ``step`` is ``SimpleImputer(constant) →
    PoolRareCategories → OneHotEncoder``: every value reads as a kept level or is pooled,
    so the encoded row of each kept level and of the pooled one is all there is to know
    (they are taken from the fitted step itself)."""
    if len(columns) != 1 or not isinstance(step, Pipeline):
        return None
    steps = [s for _, s in step.steps]
    if [type(s) for s in steps] != [SimpleImputer, PoolRareCategories, OneHotEncoder]:
        return None
    imputer, pool, encoder = steps
    if imputer.strategy != "constant" or not _missing_is_nan(imputer):
        return None
    if getattr(encoder, "sparse_output_", encoder.sparse_output) or len(pool.kept_) != 1:
        return None
    kept = [str(level) for level in pool.kept_[0]]
    probe = pd.DataFrame({columns[0]: np.array([*kept, RARE_CATEGORY], dtype=object)})
    rows = np.asarray(step.transform(probe), dtype=float)
    if rows.shape[1] != where.stop - where.start:
        return None
    return Categorical(
        column=columns[0],
        where=where,
        fill=str(imputer.fill_value),
        levels=pd.Index(kept, dtype=object),
        rows=rows,
    )


def _numeric_step(step, columns, where: slice) -> dict | None:
    """One numeric feature's fitted parameters, when ``step`` is a known numeric shape:
    ``FillNeverObserved``, or ``ClipToSeenRange → SimpleImputer(median, indicator) →
    StandardScaler``."""
    if len(columns) != 1:
        return None
    steps = [s for _, s in step.steps] if isinstance(step, Pipeline) else [step]
    kinds = [type(s) for s in steps]
    column = columns[0]
    if kinds == [FillNeverObserved] and where.stop - where.start == 1:
        if bool(steps[0].never_observed_[0]):
            # the whole column becomes 0: clipped to [0, 0], and missing filled with 0
            return _entry(column, where.start, -1, low=0.0, high=0.0, fill=0.0)
        return _entry(column, where.start, -1)
    if kinds != [ClipToSeenRange, SimpleImputer, StandardScaler]:
        return None
    clip, imputer, scaler = steps
    if imputer.strategy != "median" or not _missing_is_nan(imputer):
        return None
    indicator = imputer.indicator_
    has_indicator = indicator is not None and len(indicator.features_) == 1
    if indicator is not None and len(indicator.features_) not in (0, 1):
        return None
    n_out = 2 if has_indicator else 1
    if where.stop - where.start != n_out:
        return None
    if scaler.with_mean and len(scaler.mean_) != n_out:
        return None
    statistic = float(imputer.statistics_[0])
    # keep_empty_features: a column never observed is imputed with 0
    fill = 0.0 if np.isnan(statistic) else statistic
    low, high = float(clip.low_[0]), float(clip.high_[0])
    if not low <= high:  # never observed: nothing to clip to
        low, high = -np.inf, np.inf
    mean = scaler.mean_ if scaler.with_mean else np.zeros(n_out)
    scale = scaler.scale_ if scaler.with_std and scaler.scale_ is not None else np.ones(n_out)
    return _entry(
        column,
        where.start,
        where.start + 1 if has_indicator else -1,
        low=low,
        high=high,
        fill=fill,
        value_mean=float(mean[0]),
        value_scale=float(scale[0]),
        indicator_mean=float(mean[1]) if has_indicator else 0.0,
        indicator_scale=float(scale[1]) if has_indicator else 1.0,
    )


def _missing_is_nan(imputer: SimpleImputer) -> bool:
    marker = imputer.missing_values
    return isinstance(marker, float) and np.isnan(marker)


def _entry(
    column,
    start,
    indicator_at,
    *,
    low=-np.inf,
    high=np.inf,
    fill=np.nan,
    value_mean=0.0,
    value_scale=1.0,
    indicator_mean=0.0,
    indicator_scale=1.0,
) -> dict:
    return {
        "columns": column,
        "out_start": start,
        "indicator_at": indicator_at,
        "clip_low": low,
        "clip_high": high,
        "fill": fill,
        "value_mean": value_mean,
        "value_scale": value_scale,
        "indicator_mean": indicator_mean,
        "indicator_scale": indicator_scale,
    }
