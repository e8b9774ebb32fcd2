"""What scoring asks of a trained model, written once for both forms of it.

A :class:`~models.risk_model.RiskModel` (scikit-learn objects, read from skops) and an
:class:`~models.array_model.ArrayRiskModel` (the same parameters as arrays) differ only in
how they encode the features, how they split a margin into contributions and how they
calibrate it. :class:`ExplainedRisk` builds everything else from those parts: the risk
and its contributions from one pass, each feature's points of risk, and the risk within
the horizon (capped by the risk), so a change to any of these reaches both forms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.group_rates import with_history

# rows encoded and explained at once by a linear model: a caseload's encoded rows (rows x
# encoded columns, twice over for the contributions) would otherwise be the largest arrays
# of a run. A tree model takes all rows at once: it is explained once per pattern of split
# directions among the rows it is given (models.tree_shap), and every block of a caseload
# holds most of the patterns again (200,000 clients, 400 trees: 58-61 s in blocks, 25-26 s not)
EXPLAIN_ROWS = 16_384


class ExplainedRisk:
    """Risk, explanations and horizon risk from a model's parts.

    A subclass holds ``history`` (the learnt therapist and site rates) and supplies
    ``_encode(features)`` (the preprocessing's numbers), ``_contributions(
    encoded, index)`` (per-feature contributions on the margin scale and the base value
    per row, adding up to the margin), ``_margin_of(features)`` (the log-odds),
    ``_calibrate(margin)`` (calibrated probabilities) and ``_horizon_of(features)`` (the
    calibrated probability of dropout within the horizon, before the cap),
    ``has_horizon`` and ``kind_`` (``"linear"`` or a tree model's kind).
    """

    def features(self, X: pd.DataFrame) -> pd.DataFrame:
        """Every model feature: the given row features plus the learnt history features."""
        return with_history(X, self.history.transform(X))

    def margin(self, X: pd.DataFrame) -> np.ndarray:
        """The uncalibrated log-odds the explanations add up to."""
        return self._margin_of(self.features(X))

    def proba_from_features(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities from a full feature frame (history features included).

        For behaviour tests that move one feature, history features too, at a time.
        """
        p = self._calibrate(self._margin_of(features))
        return np.column_stack([1 - p, p])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.proba_from_features(self.features(X))

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
        return self._explained(self.features(X), X.index)

    def _explained(
        self, features: pd.DataFrame, index: pd.Index
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Contributions and base values of ``features``, :data:`EXPLAIN_ROWS` rows at a
        time (each row's values are its own, whatever rows come with it)."""
        n = len(features)
        if n <= EXPLAIN_ROWS or self.kind_ != "linear":
            return self._contributions(self._encode(features), index)
        values, base, columns = None, np.empty(n), None
        for start in range(0, n, EXPLAIN_ROWS):
            block = slice(start, start + EXPLAIN_ROWS)
            part, part_base = self._contributions(self._encode(features.iloc[block]), index[block])
            if values is None:
                values, columns = np.empty((n, part.shape[1])), part.columns
            values[block] = part.to_numpy(dtype=float)
            base[block] = part_base
        return pd.DataFrame(values, index=index, columns=columns, copy=False), base

    def predict_and_explain(
        self, X: pd.DataFrame, *, with_base: bool = False, features=None
    ) -> tuple[np.ndarray, pd.DataFrame] | tuple[np.ndarray, pd.DataFrame, np.ndarray]:
        """Calibrated risk and contributions from one pass of the preprocessing.

        The margin is the contributions' sum plus the base value (exact additivity, which
        the tests check), so scoring a caseload transforms and explains it once. With
        ``with_base`` the base values are returned too; ``features`` is
        ``self.features(X)``, when the caller has it already.
        """
        features = self.features(X) if features is None else features
        contributions, base = self._explained(features, X.index)
        risk = self._calibrate(_row_sums(contributions) + base)
        return (risk, contributions, base) if with_base else (risk, contributions)

    def probability_points(self, contributions: pd.DataFrame, base: np.ndarray) -> pd.DataFrame:
        """Each feature's contribution in percentage points of calibrated risk.

        The points of a feature are the client's risk minus the risk they would have
        without that feature's contribution (every other contribution kept): a plain
        "how much this raises or lowers the risk", on the scale a reader sees.
        """
        values = contributions.to_numpy()
        margin = _row_sums(contributions) + np.asarray(base, dtype=float)
        risk = self._calibrate(margin)
        without = self._calibrate((margin[:, None] - values).ravel())
        points = 100 * (risk[:, None] - without.reshape(values.shape))
        return pd.DataFrame(points, index=contributions.index, columns=contributions.columns)

    def predict_horizon(
        self, X: pd.DataFrame, risk: np.ndarray | None = None, *, features=None
    ) -> np.ndarray:
        """P(discharged as a dropout within ``horizon_days_`` of the row's date), never
        above the row's ``risk`` (given, or computed). ``features``: ``self.features(X)``,
        when the caller has it already."""
        if not self.has_horizon:
            raise AttributeError("this model has no horizon model")
        features = self.features(X) if features is None else features
        soon = self._horizon_of(features)
        if risk is None:
            risk = self.proba_from_features(features)[:, 1]
        return np.minimum(soon, np.asarray(risk, dtype=float))


def _row_sums(frame: pd.DataFrame) -> np.ndarray:
    """Each row's sum, added in one order whatever the frame's memory layout (NumPy adds
    a contiguous row pairwise and a strided one in sequence, which can differ in the
    last bit)."""
    return np.ascontiguousarray(frame.to_numpy(dtype=float)).sum(axis=1)
