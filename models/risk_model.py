"""The deployable unit: a fitted pipeline, its calibration and its exact explanations.

`RiskModel` wraps a candidate Pipeline that was fitted on one set of clients and
calibrates its margin on another (EVIDENCE.md: calibration slope and intercept are
reported, resampling is avoided). Explanations are exact and additive on the model's
margin (log-odds): tree SHAP on the fitted trees for boosting (never KernelExplainer on
a caseload: EVIDENCE.md, user asks 1-2), the closed-form contributions for the logistic
model; encoded columns are summed back to the original features (user ask 3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from configs.settings import FeatureSettings
from features.schema import FEATURE_NAMES, MODEL_INPUTS
from models.candidates import encoded_feature_sources
from models.explained_risk import ExplainedRisk
from models.fast_preprocess import encode, encoded_frame
from models.tree_shap import hist_gradient_boosting_trees, tree_shap


def _fit_calibrator(method: str, margin: np.ndarray, y: np.ndarray, w: np.ndarray):
    if method == "sigmoid":
        # Platt scaling on the margin; effectively unpenalised
        return LogisticRegression(C=1e6, max_iter=1000).fit(
            margin.reshape(-1, 1), y, sample_weight=w
        )
    if method == "isotonic":
        return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
            margin, y, sample_weight=w
        )
    raise ValueError(f"unknown calibration method {method!r}")


def _apply_calibrator(calibrator, margin: np.ndarray) -> np.ndarray:
    if isinstance(calibrator, IsotonicRegression):
        p = calibrator.predict(margin)
    else:
        p = calibrator.predict_proba(margin.reshape(-1, 1))[:, 1]
    return np.clip(p, 1e-6, 1 - 1e-6)


def calibration_error(y: np.ndarray, p: np.ndarray, w: np.ndarray, bins: int = 10) -> float:
    """Weighted expected calibration error over equal-weight risk bins.

    The weighted mean |observed rate - mean predicted risk| across ``bins`` bins of
    roughly equal total weight.
    """
    order = np.argsort(p, kind="stable")
    cum = np.cumsum(w[order])
    edges = np.searchsorted(cum, np.linspace(0, cum[-1], bins + 1)[1:-1])
    error = 0.0
    for idx in np.split(order, edges):
        if len(idx) and w[idx].sum() > 0:
            gap = np.average(y[idx], weights=w[idx]) - np.average(p[idx], weights=w[idx])
            error += w[idx].sum() * abs(gap)
    return float(error / w.sum())


def choose_calibration(margin: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int) -> str:
    """Sigmoid or isotonic, whichever has the lower cross-fitted calibration error.

    Each method is fitted on two thirds of the (out-of-fold) margins and judged on the
    third it did not see; sigmoid, the simpler, wins ties (within 0.2 percentage points).
    """
    scores = {}
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    for method in ("sigmoid", "isotonic"):
        errors = []
        for fit_idx, val_idx in folds.split(margin.reshape(-1, 1), y):
            cal = _fit_calibrator(method, margin[fit_idx], y[fit_idx], w[fit_idx])
            p = _apply_calibrator(cal, margin[val_idx])
            errors.append(calibration_error(y[val_idx], p, w[val_idx]))
        scores[method] = float(np.mean(errors))
    return "isotonic" if scores["isotonic"] < scores["sigmoid"] - 0.002 else "sigmoid"


class RiskModel(ExplainedRisk, ClassifierMixin, BaseEstimator):
    """A fitted candidate pipeline, its history encoder and a calibrator.

    The model takes the features built from a client's own rows plus ``therapist_id``
    (``features.schema.MODEL_INPUTS``); it adds the therapist and site history features
    from what its encoder learnt, so scoring needs nothing but the registered model.

    Parameters
    ----------
    pipeline
        A *fitted* ``Pipeline(preprocess, classifier)`` from :mod:`models.candidates`
        taking every feature of ``FEATURE_NAMES``; it is not refitted.
    history
        A *fitted* ``features.history.DropoutHistoryEncoder``.
    calibration
        ``sigmoid`` or ``isotonic``.
    candidate
        The candidate's name (``logistic``, ``lightgbm`` or ``hist_gradient_boosting``).
    feature_settings
        The instrument and feature settings the features were built with, as plain
        dicts, so scoring rebuilds exactly the same features.
    """

    def __init__(
        self,
        *,
        pipeline=None,
        history=None,
        calibration="sigmoid",
        candidate="",
        feature_settings=None,
    ):
        self.pipeline = pipeline
        self.history = history
        self.calibration = calibration
        self.candidate = candidate
        self.feature_settings = feature_settings

    @property
    def settings(self) -> FeatureSettings:
        """``feature_settings`` as the typed object scoring, serving and promotion use."""
        return FeatureSettings.read(self.feature_settings)

    @property
    def has_horizon(self) -> bool:
        """Whether the model also predicts ``risk_within_horizon`` (:meth:`fit_horizon`)."""
        return hasattr(self, "horizon_pipeline_")

    def fit(self, X: pd.DataFrame, y, sample_weight=None, *, margin=None) -> RiskModel:
        """Fit the calibrator.

        Parameters
        ----------
        X
            Model inputs of clients the pipeline was not fitted on, or (with ``margin``)
            the rows whose out-of-fold margins are given.
        margin
            Out-of-fold margins of ``X`` from cross-validation; the calibrator is then
            fitted on them (as ``CalibratedClassifierCV(ensemble=False)`` does).
        """
        y = np.asarray(y, dtype=int)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(MODEL_INPUTS, dtype=object)
        preprocess = self.pipeline[:-1]
        self.sources_ = np.array(encoded_feature_sources(preprocess[-1]), dtype=object)
        classifier = self.pipeline[-1]
        self.kind_ = (
            "linear"
            if hasattr(classifier, "coef_")
            else "lightgbm"
            if hasattr(classifier, "contributions")
            else "tree"
        )
        if self.kind_ == "linear":
            # an aggregate (column means), never rows: the reference point of the contributions
            encoded = preprocess.transform(self.features(X))
            self.reference_mean_ = np.asarray(encoded, dtype=float).mean(axis=0)
        margin = self.margin(X) if margin is None else np.asarray(margin, dtype=float)
        self.calibrator_ = _fit_calibrator(self.calibration, margin, y, w)
        return self

    def fit_horizon(
        self, pipeline, calibration: str, margin: np.ndarray, y, sample_weight, horizon_days: int
    ) -> RiskModel:
        """Add the model of dropout within ``horizon_days`` (``risk_within_horizon``).

        ``pipeline`` is fitted on the same features (same configuration as the main
        model, its own target and censoring weights); its calibrator is fitted on the
        out-of-fold ``margin``. Its probability is capped by ``risk``: a dropout within
        the horizon is a dropout.
        """
        y = np.asarray(y, dtype=int)
        w = np.asarray(sample_weight, dtype=float)
        self.horizon_pipeline_ = pipeline
        self.horizon_calibration_ = calibration
        self.horizon_calibrator_ = _fit_calibrator(calibration, np.asarray(margin), y, w)
        self.horizon_days_ = int(horizon_days)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    # the parts models.explained_risk.ExplainedRisk builds risk and explanations from
    def _encode(self, features: pd.DataFrame) -> np.ndarray:
        return encode(self.pipeline[:-1], features)

    def _margin_of(self, features: pd.DataFrame) -> np.ndarray:
        return _decision(self.pipeline, features)

    def _calibrate(self, margin: np.ndarray) -> np.ndarray:
        return _apply_calibrator(self.calibrator_, margin)

    def _horizon_of(self, features: pd.DataFrame) -> np.ndarray:
        return _apply_calibrator(
            self.horizon_calibrator_, _decision(self.horizon_pipeline_, features)
        )

    def _contributions(
        self, encoded: np.ndarray, index: pd.Index
    ) -> tuple[pd.DataFrame, np.ndarray]:
        classifier = self.pipeline[-1]
        if self.kind_ == "linear":
            coef = classifier.coef_.ravel()
            values = (encoded - self.reference_mean_) * coef
            base = np.full(
                len(encoded), float(classifier.intercept_[0] + coef @ self.reference_mean_)
            )
        elif self.kind_ == "lightgbm":
            values, base_value = classifier.contributions(encoded)
            base = np.full(len(encoded), base_value)
        elif hasattr(classifier, "_predictors"):  # HistGradientBoostingClassifier
            # shap's exact path-dependent values, computed per pattern of split directions
            trees, raw_base = hist_gradient_boosting_trees(classifier)
            values, base_value = tree_shap(trees, raw_base, encoded)
            base = np.full(len(encoded), base_value)
        else:
            import shap  # heavy import, only for a tree model the fast path does not know

            explainer = shap.TreeExplainer(classifier)
            values = np.asarray(explainer.shap_values(encoded, check_additivity=False), dtype=float)
            if values.ndim == 3:  # (rows, features, classes) in some shap versions
                values = values[:, :, 1]
            expected = np.ravel(explainer.expected_value)
            base = np.full(len(encoded), float(expected[-1]))
        # sum encoded columns back to their original feature with one matrix product
        names = list(FEATURE_NAMES)
        position = {name: i for i, name in enumerate(names)}
        to_feature = np.zeros((len(self.sources_), len(names)))
        to_feature[np.arange(len(self.sources_)), [position[s] for s in self.sources_]] = 1.0
        return pd.DataFrame(values @ to_feature, index=index, columns=names, copy=False), base


def _decision(pipeline, features: pd.DataFrame) -> np.ndarray:
    """``pipeline.decision_function(features)``, its preprocessing applied by
    :func:`models.fast_preprocess.encode` (the same numbers, without the per-column
    overhead that dominates a small request)."""
    preprocess = pipeline[:-1]
    encoded = encoded_frame(preprocess, encode(preprocess, features), features.index)
    return np.asarray(pipeline[-1].decision_function(encoded), dtype=float)
