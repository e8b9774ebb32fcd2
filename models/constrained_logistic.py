"""Logistic regression whose coefficients keep the clinically certain sign.

Attendance counts are strongly collinear (no-shows, the attendance rate, misses since the
last session), so an unconstrained fit can give one of them a negative weight: the model
would then say that one more no-show, all else equal, *lowers* risk. Where the clinical
direction is certain (``features.schema.Feature.direction``) the coefficient is bounded
to that sign; the fit is otherwise scikit-learn's L2 objective, solved by a bounded Newton
method (a few passes over the data).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import lsq_linear
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data


def _bounded_newton_step(
    grad: np.ndarray, hessian: np.ndarray, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """The step d minimising grad.d + d.H.d / 2 within low <= d <= high.

    With H = L L' (Cholesky), that is the bounded least-squares problem
    min |L'd + L^-1 grad|^2, solved exactly by bounded-variable least squares on about
    a hundred variables; the expensive part of an iteration is the pass over the data.
    """
    try:
        free = np.linalg.solve(hessian, -grad)
        if np.all((free >= low) & (free <= high)):
            return free  # no bound active: the plain Newton step
        chol = np.linalg.cholesky(hessian)
    except np.linalg.LinAlgError:
        chol = np.linalg.cholesky(hessian + 1e-8 * np.eye(len(grad)))
    target = -solve_triangular(chol, grad, lower=True)
    return lsq_linear(chol.T, target, bounds=(low, high), method="bvls", tol=1e-12).x


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
        Newton iterations (convergence usually takes 6 to 15).
    """

    def __init__(self, *, C: float = 1.0, directions: dict | None = None, max_iter: int = 100):
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

        # the objective divided by the total weight (same minimiser as scikit-learn's
        # sum-of-losses form), so tolerances mean the same for 2,000 rows or 200,000
        total = s.sum()
        design = np.column_stack([X, np.ones(len(X))])
        penalty = np.append(np.full(n_features, 1.0 / (self.C * total)), 0.0)
        bounds = np.array(
            [
                (-np.inf if lo is None else lo, np.inf if hi is None else hi)
                for lo, hi in self._bounds(names)
            ]
            + [(-np.inf, np.inf)]
        )

        def loss_of(params: np.ndarray) -> tuple[float, np.ndarray]:
            z = design @ params
            # -log p for positives, -log (1-p) for negatives, numerically stable
            data = -(s * (t * log_expit(z) + (1 - t) * log_expit(-z))).sum() / total
            return data + 0.5 * (penalty * params) @ params, z

        params = np.zeros(n_features + 1)
        loss, z = loss_of(params)
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 (kept for n_iter_)
            p = expit(z)
            grad = design.T @ (s * (p - t)) / total + penalty * params
            curvature = s * p * (1 - p) / total
            scaled = design * np.sqrt(curvature)[:, None]
            hessian = scaled.T @ scaled + np.diag(penalty + 1e-12)
            step = _bounded_newton_step(grad, hessian, bounds[:, 0] - params, bounds[:, 1] - params)
            # backtracking (Armijo) on the true objective; the step keeps every bound
            size, decrease = 1.0, grad @ step
            while True:
                new_loss, new_z = loss_of(params + size * step)
                if new_loss <= loss + 1e-4 * size * decrease or size < 1e-10:
                    break
                size /= 2
            params = np.clip(params + size * step, bounds[:, 0], bounds[:, 1])
            converged = loss - new_loss <= 1e-12 * max(1.0, abs(loss))
            loss, z = new_loss, new_z
            if converged or np.max(np.abs(size * step)) < 1e-8:
                break
        self.n_iter_ = np.array([n_iter])
        self.coef_ = params[:n_features].reshape(1, -1)
        self.intercept_ = np.array([params[n_features]])
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
