"""A fitted RiskModel's parameters read off into an :class:`~models.array_model.ArrayRiskModel`.

Only shapes this module knows are read off: the preprocessing of
:mod:`models.candidates` (every step :mod:`models.fast_preprocess` plans), a linear
classifier with ``coef_`` or a binary HistGradientBoosting / LightGBM model whose trees
:mod:`models.tree_shap` reads, and the sigmoid or isotonic calibrator. Anything else
gives None, and the model is then only stored (and scored) as its skops file.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from features.group_rates import GroupRates
from models.array_model import ArrayRiskModel, Calibrator, Margin, model_facts
from models.fast_preprocess import _inner, _plan
from models.tree_shap import hist_gradient_boosting_trees, lightgbm_trees


def array_model(model) -> ArrayRiskModel | None:
    """``model`` (a fitted RiskModel) as arrays, or None when a part is of an unknown shape."""
    margin = _margin(model.pipeline, getattr(model, "reference_mean_", None))
    calibrator = _calibrator(model.calibrator_)
    if margin is None or calibrator is None:
        return None
    horizon = None
    if hasattr(model, "horizon_pipeline_"):
        horizon_margin = _margin(model.horizon_pipeline_, None)
        horizon_calibrator = _calibrator(model.horizon_calibrator_)
        if horizon_margin is None or horizon_calibrator is None:
            return None
        horizon = (horizon_margin, horizon_calibrator, int(model.horizon_days_))
    history = GroupRates(model.history.prior_, model.history.rates_)
    return ArrayRiskModel(model_facts(model), margin, calibrator, history, horizon)


def _margin(pipeline, reference_mean) -> Margin | None:
    plan = _plan(_inner(pipeline[:-1]))
    if plan is None or plan.others:
        return None
    classifier = pipeline[-1]
    if hasattr(classifier, "coef_"):
        coef = np.asarray(classifier.coef_, dtype=float)
        if coef.shape[0] != 1:
            return None
        if reference_mean is None:  # a horizon model: its decision only, no contributions
            reference_mean = np.zeros(coef.shape[1])
        intercept = float(np.ravel(classifier.intercept_)[0])
        return Margin(
            plan,
            "linear",
            coef=coef.ravel(),
            intercept=intercept,
            reference_mean=np.asarray(reference_mean, dtype=float),
        )
    if hasattr(classifier, "_predictors"):
        try:
            trees, raw_base = hist_gradient_boosting_trees(classifier)
        except ValueError:
            return None
        return Margin(plan, "trees", trees=trees, raw_base=raw_base)
    booster = getattr(getattr(classifier, "model_", None), "booster_", None)
    if booster is not None and hasattr(classifier, "contributions"):
        found = lightgbm_trees(booster)
        if found is None:
            return None
        trees, raw_base = found
        return Margin(plan, "trees", trees=trees, raw_base=raw_base)
    return None


def _calibrator(calibrator) -> Calibrator | None:
    if isinstance(calibrator, IsotonicRegression):
        if calibrator.out_of_bounds != "clip" or not len(calibrator.X_thresholds_):
            return None
        if (calibrator.X_min_, calibrator.X_max_) != (
            calibrator.X_thresholds_[0],
            calibrator.X_thresholds_[-1],
        ):
            return None
        return Calibrator(
            "isotonic",
            x=np.asarray(calibrator.X_thresholds_, dtype=float),
            y=np.asarray(calibrator.y_thresholds_, dtype=float),
        )
    if isinstance(calibrator, LogisticRegression) and np.size(calibrator.coef_) == 1:
        return Calibrator(
            "sigmoid",
            slope=float(np.ravel(calibrator.coef_)[0]),
            intercept=float(np.ravel(calibrator.intercept_)[0]),
        )
    return None
