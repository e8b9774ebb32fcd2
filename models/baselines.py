"""Baselines reported beside the champion, so the value of each signal family is visible.

- ``srs_rule``: the clinical rule "last SRS below the cut-off flags an alliance concern"
  (Duncan et al. 2003), turned into probabilities by the dropout rate of each arm.
- ``attendance_only``, ``alliance_only``, ``intake_only``: a plain logistic regression
  on one feature family; process data is what should add signal over intake data
  (Bennemann et al. 2022, EVIDENCE.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from features.schema import FEATURES
from models.candidates import make_family_logistic


class SrsRuleBaseline(ClassifierMixin, BaseEstimator):
    """Dropout rate of the rule's arms: last SRS below cut-off, at or above it, none yet.

    Parameters
    ----------
    cutoff
        The SRS alliance-concern cut-off (36 for SRS v3).
    """

    def __init__(self, *, cutoff: float = 36.0):
        self.cutoff = cutoff

    def _arm(self, X: pd.DataFrame) -> np.ndarray:
        srs = pd.to_numeric(X["srs_total_last"], errors="coerce").to_numpy(dtype=float)
        return np.where(np.isnan(srs), 2, np.where(srs < self.cutoff, 1, 0))

    def fit(self, X: pd.DataFrame, y, sample_weight=None) -> SrsRuleBaseline:
        y = np.asarray(y, dtype=float)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        arm = self._arm(X)
        overall = float(np.average(y, weights=w))
        rates = []
        for k in range(3):
            mask = arm == k
            rates.append(float(np.average(y[mask], weights=w[mask])) if w[mask].sum() else overall)
        self.rates_ = np.clip(np.array(rates), 1e-4, 1 - 1e-4)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.rates_[self._arm(X)]
        return np.column_stack([1 - p, p])


def family_features(family: str) -> tuple[str, ...]:
    """The features of one family (as declared in ``features.schema``)."""
    return tuple(f.name for f in FEATURES if f.family == family)


def build_baselines(seed: int, srs_cutoff: float) -> dict[str, object]:
    """Unfitted baselines by name; each is fitted with ``fit(X, y, sample_weight=w)``."""
    out: dict[str, object] = {"srs_rule": SrsRuleBaseline(cutoff=srs_cutoff)}
    for family in ("attendance", "alliance", "intake"):
        out[f"{family}_only"] = _Weighted(make_family_logistic(family_features(family), seed))
    return out


class _Weighted(ClassifierMixin, BaseEstimator):
    """A Pipeline whose ``fit`` takes ``sample_weight`` like a plain estimator."""

    def __init__(self, pipeline=None):
        self.pipeline = pipeline

    def fit(self, X, y, sample_weight=None):
        self.pipeline.fit(X, y, classifier__sample_weight=sample_weight)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        return self.pipeline.predict_proba(X)
