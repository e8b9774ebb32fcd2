"""The "notebook model": the baseline a typical data scientist would build first.

Gradient boosting (scikit-learn's ``HistGradientBoostingClassifier``) on plain per-client
aggregates (:func:`features.aggregates.client_aggregates`), with fixed hyperparameters,
unweighted training rows and no calibration step: the model as a notebook would leave
it. The project's model has to beat it on the open caseload; whatever it adds over this
(landmark weighting, rupture features, monotone constraints, calibration, therapist
history) has to show up as a better score than this one's.

Training rows are one per closed episode (dropout = 1, completed = 0; transferred, other
and active episodes carry no label, :func:`features.labels.episode_labels`) after each of
its first ``n_first`` appointments, each built from the appointments up to and including
that one, so nothing recorded later informs it (CONTRACT.md, "The label").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

from features.aggregates import (
    AGGREGATE_FEATURES,
    CATEGORICAL_AGGREGATES,
    NUMERIC_AGGREGATES,
    appointment_cutoffs,
    client_aggregates,
)
from features.ids import among
from features.labels import episode_labels

# HistGradientBoosting refuses a categorical feature with more categories than bins
MAX_CATEGORIES = 255


class NotebookModel(BaseEstimator):
    """Dropout risk from per-client aggregates by histogram gradient boosting.

    Parameters
    ----------
    seed
        ``random_state`` of the booster.
    n_first
        Training rows per closed episode: one after each of its first ``n_first``
        appointments.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Passed to :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
    early_stopping
        Passed to the booster. Off by default so the fixed ``max_iter`` holds on any
        data size (scikit-learn's ``"auto"`` would switch it on above 10,000 rows).

    Attributes
    ----------
    estimator_ : HistGradientBoostingClassifier
        The fitted booster.
    categories_ : dict[str, pandas.Index]
        The categories learnt for each categorical column (the most frequent
        ``MAX_CATEGORIES`` when there are more); any other value is missing at
        prediction time.
    n_training_rows_, n_training_episodes_ : int
        Size of the training set.
    classes_ : numpy.ndarray
        ``[0, 1]``: completed, dropout.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        n_first: int = 8,
        max_iter: int = 300,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 50,
        l2_regularization: float = 1.0,
        early_stopping: bool | str = False,
    ):
        self.seed = seed
        self.n_first = n_first
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.early_stopping = early_stopping

    def fit(self, clients: pd.DataFrame, sessions: pd.DataFrame, instruments: Any) -> NotebookModel:
        """Build the labelled training rows from the tables and fit the booster.

        Parameters
        ----------
        clients, sessions
            Validated contract tables (the whole history: open episodes are skipped).
        instruments
            Instrument definitions (``InstrumentsConfig``), for the derived scores.

        Returns
        -------
        NotebookModel
            ``self``, fitted.

        Raises
        ------
        ValueError
            When the closed episodes with appointments are not both dropouts and
            completions (nothing to learn from).
        """
        labels = episode_labels(clients).dropna()
        closed = clients[among(clients["client_id"], labels.index)]
        closed_sessions = sessions[among(sessions["client_id"], labels.index)]
        cutoffs = appointment_cutoffs(closed_sessions, n_first=self.n_first)
        rows = client_aggregates(closed, closed_sessions, instruments, cutoffs=cutoffs)
        y = labels.reindex(rows["client_id"].to_numpy()).to_numpy(dtype=float).astype(np.int64)
        if len(np.unique(y)) < 2:
            raise ValueError(
                "training needs closed episodes of both outcomes (dropout and completed) "
                f"with appointments; found {len(rows)} training rows with outcomes "
                f"{sorted(set(y.tolist()))}"
            )
        self.categories_ = {name: _learnt_categories(rows[name]) for name in CATEGORICAL_AGGREGATES}
        # a rating no site of this clinic collects is blank in every row: the booster's
        # binning cannot take an all-missing column, and it carries nothing anyway
        numeric = pd.DataFrame(
            {n: pd.to_numeric(rows[n], errors="coerce") for n in NUMERIC_AGGREGATES}
        )
        self.numeric_ = tuple(n for n in NUMERIC_AGGREGATES if numeric[n].notna().any())
        self.estimator_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=self.early_stopping,
            categorical_features="from_dtype",
            random_state=self.seed,
        ).fit(self._design(rows), y)
        self.classes_ = np.array([0, 1])
        self.n_training_rows_ = len(rows)
        self.n_training_episodes_ = int(rows["client_id"].nunique())
        return self

    def predict_rows(self, aggregates: pd.DataFrame) -> np.ndarray:
        """Risk of dropout for rows of :func:`~features.aggregates.client_aggregates`.

        Parameters
        ----------
        aggregates
            A frame with every column of :data:`~features.aggregates.AGGREGATE_FEATURES`
            (others are ignored).

        Returns
        -------
        numpy.ndarray
            Probability of dropout per row, in row order.
        """
        check_is_fitted(self, "estimator_")
        missing = [name for name in AGGREGATE_FEATURES if name not in aggregates.columns]
        if missing:
            raise ValueError(
                f"aggregates lack the column(s) {missing}; build them with "
                "features.aggregates.client_aggregates"
            )
        if not len(aggregates):
            return np.zeros(0)
        return self.estimator_.predict_proba(self._design(aggregates))[:, 1]

    def predict_asof(
        self,
        clients: pd.DataFrame,
        sessions: pd.DataFrame,
        as_of: Any,
        instruments: Any,
    ) -> pd.Series:
        """Risk of dropout of each client as of a date, from what was known by then.

        Parameters
        ----------
        clients, sessions
            Validated contract tables; sessions after ``as_of`` are ignored.
        as_of
            The date of prediction (anything :class:`pandas.Timestamp` reads; compared by
            day).
        instruments
            Instrument definitions (``InstrumentsConfig``).

        Returns
        -------
        pandas.Series
            ``risk`` indexed by ``client_id``, in the order of ``clients``, for the
            clients with at least one appointment on or before ``as_of``.
        """
        check_is_fitted(self, "estimator_")
        as_of = pd.Timestamp(as_of)
        known = sessions[sessions["session_date"].dt.normalize() <= as_of.normalize()]
        ids = clients["client_id"].to_numpy()
        ids = ids[among(clients["client_id"], known["client_id"])]
        cutoffs = pd.DataFrame({"client_id": ids, "cutoff_date": np.repeat(as_of, len(ids))})
        rows = client_aggregates(clients, known, instruments, cutoffs=cutoffs)
        return pd.Series(
            self.predict_rows(rows),
            index=pd.Index(ids, name="client_id"),
            name="risk",
            dtype=float,
        )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The booster's input columns, in order (ratings never recorded left out)."""
        check_is_fitted(self, "estimator_")
        return np.asarray([*self.numeric_, *CATEGORICAL_AGGREGATES], dtype=object)

    def _design(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The booster's input: floats, and categoricals on the learnt categories only."""
        X = pd.DataFrame(index=pd.RangeIndex(len(rows)))
        for name in self.numeric_:
            X[name] = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float)
        for name in CATEGORICAL_AGGREGATES:
            text = rows[name].astype("string").to_numpy(dtype=object, na_value=np.nan)
            # an unseen category (a new therapist or site) becomes missing, not an error
            X[name] = pd.Categorical(text, categories=self.categories_[name])
        return X


def _learnt_categories(values: pd.Series) -> pd.Index:
    """The most frequent ``MAX_CATEGORIES`` values, sorted (ties broken by value)."""
    counts = values.astype("string").dropna().value_counts()
    frame = pd.DataFrame({"value": counts.index.astype(object), "count": counts.to_numpy()})
    top = frame.sort_values(["count", "value"], ascending=[False, True], kind="stable")
    return pd.Index(sorted(top["value"].head(MAX_CATEGORIES).tolist()), dtype=object)
