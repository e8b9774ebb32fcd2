"""LightGBM with monotone constraints given per original feature, not per column position.

LightGBM takes ``monotone_constraints`` as a list aligned with the input columns, but
the one-hot preprocessing decides the columns only when it is fitted. This wrapper
reads the column names it is given (``<feature>__<column>``) and builds the list then,
so "more missed sessions never lowers risk" holds whatever the categories were.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class MonotoneLightGBM(ClassifierMixin, BaseEstimator):
    """A binary ``lightgbm.LGBMClassifier`` constrained to clinical directions.

    Parameters
    ----------
    n_estimators, learning_rate, num_leaves, min_child_samples, reg_lambda, colsample_bytree
        As in ``LGBMClassifier``.
    directions
        Mapping from an original feature name to +1 or -1; a column ``<feature>__...``
        takes its feature's direction; other columns are free.
    seed
        Random state; training is deterministic for a given seed and machine.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 50,
        reg_lambda: float = 1.0,
        colsample_bytree: float = 0.8,
        directions: dict | None = None,
        seed: int = 0,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.colsample_bytree = colsample_bytree
        self.directions = directions
        self.seed = seed

    def _constraints(self, names) -> list[int]:
        directions = self.directions or {}
        return [int(directions.get(str(name).split("__", 1)[0], 0)) for name in names]

    def fit(self, X, y, sample_weight=None) -> MonotoneLightGBM:
        import lightgbm as lgb  # heavy import, only when this candidate is fitted

        names = (
            list(X.columns) if hasattr(X, "columns") else [f"x{i}" for i in range(np.shape(X)[1])]
        )
        values, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan")
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError("MonotoneLightGBM needs exactly two classes")
        self.model_ = lgb.LGBMClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            reg_lambda=self.reg_lambda,
            colsample_bytree=self.colsample_bytree,
            monotone_constraints=self._constraints(names),
            monotone_constraints_method="intermediate",
            random_state=self.seed,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
        )
        # plain arrays: category names may hold characters LightGBM refuses in feature names
        self.model_.fit(values, (y == self.classes_[1]).astype(int), sample_weight=sample_weight)
        return self

    def decision_function(self, X) -> np.ndarray:
        """The log-odds of the second class."""
        check_is_fitted(self)
        values = validate_data(
            self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False
        )
        return self.model_.predict(values, raw_score=True)

    def contributions(self, X) -> tuple[np.ndarray, float]:
        """Exact tree SHAP values on the log-odds and the base value (LightGBM's own)."""
        check_is_fitted(self)
        values = validate_data(
            self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False
        )
        from models.tree_shap import lightgbm_trees, tree_shap

        trees = lightgbm_trees(self.model_.booster_)
        if trees is not None:
            # the same values as pred_contrib (a test checks), per pattern of split directions
            return tree_shap(*trees, values)
        out = self.model_.predict(values, raw_score=True, pred_contrib=True)
        return out[:, :-1], float(out[0, -1]) if len(out) else 0.0

    def predict_proba(self, X) -> np.ndarray:
        p = 1 / (1 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
