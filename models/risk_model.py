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
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold

from features.schema import FEATURE_NAMES
from models.candidates import encoded_feature_sources


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


def choose_calibration(margin: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int) -> str:
    """Sigmoid or isotonic, whichever has the lower cross-fitted Brier score on ``margin``."""
    scores = {}
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    for method in ("sigmoid", "isotonic"):
        losses = []
        for fit_idx, val_idx in folds.split(margin.reshape(-1, 1), y):
            cal = _fit_calibrator(method, margin[fit_idx], y[fit_idx], w[fit_idx])
            p = _apply_calibrator(cal, margin[val_idx])
            losses.append(brier_score_loss(y[val_idx], p, sample_weight=w[val_idx]))
        scores[method] = float(np.mean(losses))
    # sigmoid is simpler: it wins ties
    return "isotonic" if scores["isotonic"] < scores["sigmoid"] - 1e-5 else "sigmoid"


class RiskModel(ClassifierMixin, BaseEstimator):
    """A fitted candidate pipeline plus a calibrator fitted on held-out clients.

    Parameters
    ----------
    pipeline
        A *fitted* ``Pipeline(preprocess, classifier)`` from :mod:`models.candidates`;
        it is not refitted.
    calibration
        ``sigmoid`` or ``isotonic``.
    candidate
        The candidate's name (``logistic`` or ``hist_gradient_boosting``).
    feature_settings
        The instrument and feature settings the features were built with, as plain
        dicts, so scoring rebuilds exactly the same features.
    """

    def __init__(
        self, *, pipeline=None, calibration="sigmoid", candidate="", feature_settings=None
    ):
        self.pipeline = pipeline
        self.calibration = calibration
        self.candidate = candidate
        self.feature_settings = feature_settings

    def fit(self, X: pd.DataFrame, y, sample_weight=None) -> RiskModel:
        """Calibrate the pipeline's margin on ``X``, clients it was not fitted on."""
        y = np.asarray(y, dtype=int)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        margin = self.margin(X)
        self.calibrator_ = _fit_calibrator(self.calibration, margin, y, w)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(FEATURE_NAMES, dtype=object)
        preprocess = self.pipeline[:-1]
        self.sources_ = np.array(encoded_feature_sources(preprocess[-1]), dtype=object)
        classifier = self.pipeline[-1]
        self.kind_ = "linear" if hasattr(classifier, "coef_") else "tree"
        if self.kind_ == "linear":
            # an aggregate (column means), never rows: the reference point of the contributions
            self.reference_mean_ = np.asarray(preprocess.transform(X), dtype=float).mean(axis=0)
        return self

    def margin(self, X: pd.DataFrame) -> np.ndarray:
        """The uncalibrated log-odds the explanations add up to."""
        return np.asarray(self.pipeline.decision_function(X[list(FEATURE_NAMES)]), dtype=float)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = _apply_calibrator(self.calibrator_, self.margin(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def explain(self, X: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Exact additive contributions per original feature, on the margin scale.

        Returns
        -------
        contributions
            One column per original feature; each row plus ``base`` sums to
            :meth:`margin` for that row.
        base
            The base value per row.
        """
        encoded = np.asarray(self.pipeline[:-1].transform(X[list(FEATURE_NAMES)]), dtype=float)
        return self._contributions(encoded, X.index)

    def predict_and_explain(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """Calibrated risk and contributions from one pass of the preprocessing.

        The margin is the contributions' sum plus the base value (exact additivity, which
        the tests check), so scoring a caseload transforms and explains it once.
        """
        encoded = np.asarray(self.pipeline[:-1].transform(X[list(FEATURE_NAMES)]), dtype=float)
        contributions, base = self._contributions(encoded, X.index)
        margin = contributions.to_numpy().sum(axis=1) + base
        return _apply_calibrator(self.calibrator_, margin), contributions

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
        else:
            import shap  # heavy import, only when tree explanations are asked for

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
        return pd.DataFrame(values @ to_feature, index=index, columns=names), base
