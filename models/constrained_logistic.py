"""Logistic regression whose coefficients keep the clinically certain sign.

Attendance counts are strongly collinear (no-shows, the attendance rate, misses since the
last session), so an unconstrained fit can give one of them a negative weight: the model
would then say that one more no-show, all else equal, *lowers* risk. Where the clinical
direction is certain (``features.schema.Feature.direction``) the coefficient is bounded
to that sign; the fit is otherwise scikit-learn's L2 objective, solved with L-BFGS-B.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class SignConstrainedLogisticRegression(ClassifierMixin, BaseEstimator):
    """L2-penalised logistic regression with per-column sign bounds.

    Parameters
    ----------
    C
        Inverse regularisation strength, as in ``LogisticRegression``.
    directions
        Mapping from an original feature name to +1 (coefficient >= 0) or -1 (<= 0).
        An input column ``<feature>__<anything>`` takes its feature's direction; missing
        indicators (``missingindicator`` in the name) are left free. Needs a DataFrame
        input (set the preprocessor's output to pandas) to see the column names.
    max_iter
        L-BFGS-B iterations.
    """

    def __init__(self, *, C: float = 1.0, directions: dict | None = None, max_iter: int = 2000):
        self.C = C
        self.directions = directions
        self.max_iter = max_iter

    def _bounds(self, names) -> list[tuple[float | None, float | None]]:
        directions = self.directions or {}
        bounds = []
        for name in names:
            feature = str(name).split("__", 1)[0]
            sign = 0 if "missingindicator" in str(name) else directions.get(feature, 0)
            bounds.append((0.0, None) if sign > 0 else (None, 0.0) if sign < 0 else (None, None))
        return bounds

    def fit(self, X, y, sample_weight=None):
        names = (
            list(X.columns) if hasattr(X, "columns") else [f"x{i}" for i in range(np.shape(X)[1])]
        )
        X, y = validate_data(self, X, y, dtype=np.float64)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError("SignConstrainedLogisticRegression needs exactly two classes")
        t = (y == self.classes_[1]).astype(float)
        s = np.ones(len(t)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        n_features = X.shape[1]

        def objective(params):
            w, b = params[:n_features], params[n_features]
            z = X @ w + b
            # -log p for positives, -log (1-p) for negatives, numerically stable
            loss = (
                -(s * (t * log_expit(z) + (1 - t) * log_expit(-z))).sum() + 0.5 * (w @ w) / self.C
            )
            residual = s * (expit(z) - t)
            grad = np.append(X.T @ residual + w / self.C, residual.sum())
            return loss, grad

        bounds = self._bounds(names) + [(None, None)]
        start = np.zeros(n_features + 1)
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": self.max_iter, "ftol": 1e-12, "gtol": 1e-8},
        )
        self.coef_ = result.x[:n_features].reshape(1, -1)
        self.intercept_ = np.array([result.x[n_features]])
        self.n_iter_ = np.array([result.nit])
        return self

    def decision_function(self, X) -> np.ndarray:
        """The log-odds of the second class."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_.ravel() + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
