"""Candidate estimators: a regularised logistic regression and two gradient-boosted trees.

Both are scikit-learn Pipelines whose preprocessing has one transformer per original
feature, named after it, so every encoded column can be traced back to the feature it
came from (explanations are summed back to original features: EVIDENCE.md, user asks 3).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import validate_data

from features.schema import CATEGORICAL_FEATURES, MONOTONE_DIRECTIONS, NUMERIC_FEATURES
from models.constrained_lightgbm import MonotoneLightGBM
from models.constrained_logistic import SignConstrainedLogisticRegression

MISSING_CATEGORY = "not recorded"
# simplest first: selection ties go to the earlier candidate (LightGBM before sklearn's
# boosting at equal fit: its exact explanations are the cheaper of the two)
SIMPLICITY_ORDER = ("logistic", "lightgbm", "hist_gradient_boosting")


def _categorical_imputer() -> SimpleImputer:
    # keep_empty_features: a clinic that never exports a column still gets one "not recorded" level
    return SimpleImputer(
        strategy="constant",
        fill_value=MISSING_CATEGORY,
        missing_values=np.nan,
        keep_empty_features=True,
    )


# a category seen fewer times in training is pooled, and its name is not kept in the model
MIN_CATEGORY_COUNT = 20
RARE_CATEGORY = "other (rare)"


def _one_hot() -> Pipeline:
    """Missing as its own level; levels seen fewer than 20 times and unseen ones pooled."""
    return make_pipeline(
        _categorical_imputer(),
        PoolRareCategories(min_count=MIN_CATEGORY_COUNT),
        OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=MIN_CATEGORY_COUNT,
            sparse_output=False,
        ),
    )


class PoolRareCategories(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Replace categories seen fewer than ``min_count`` times by one "other (rare)" level.

    Unlike ``OneHotEncoder(min_frequency=...)``, which pools rare levels but still lists
    their names in ``categories_``, only the frequent names are kept: a value that only a
    few clients have (a free-text referral source, say) never travels with the model.
    Unseen values at scoring time are pooled too. The missing level is always kept.
    """

    def __init__(self, min_count: int = MIN_CATEGORY_COUNT):
        self.min_count = min_count

    def fit(self, X, y=None):
        values = validate_data(self, X, dtype=object, ensure_all_finite=False)
        self.kept_ = []
        for j in range(values.shape[1]):
            names, counts = np.unique(values[:, j].astype(str), return_counts=True)
            frequent = {str(n) for n, c in zip(names, counts, strict=True) if c >= self.min_count}
            self.kept_.append(sorted(frequent | {MISSING_CATEGORY}))
        return self

    def transform(self, X):
        values = validate_data(self, X, dtype=object, ensure_all_finite=False, reset=False)
        out = values.astype(str).astype(object)
        for j, kept in enumerate(self.kept_):
            out[~np.isin(out[:, j], kept), j] = RARE_CATEGORY
        return out


def linear_preprocessor(
    numeric=NUMERIC_FEATURES, categorical=CATEGORICAL_FEATURES
) -> ColumnTransformer:
    """Clipping to the seen range, median imputation with a missing-indicator and scaling;
    one-hot categories.

    A rating that was never collected is informative (a site without SRS, a client who
    skipped the form), so missingness gets its own column rather than being hidden.
    """
    steps = [
        (
            name,
            make_pipeline(
                ClipToSeenRange(),
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler(),
            ),
            [name],
        )
        for name in numeric
    ]
    steps += [(name, _one_hot(), [name]) for name in categorical]
    # pandas output: the classifier sees `<feature>__<column>` names (sign constraints need them)
    return ColumnTransformer(steps, verbose_feature_names_out=True).set_output(transform="pandas")


class ClipToSeenRange(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Clip numbers to the range seen in training; missing values pass through.

    Training landmarks cover the first K appointments, but a caseload holds clients at
    appointment 20 with counts no training example had. A linear model would extrapolate
    those counts without bound; clipping lets it saturate, as trees do by construction.
    Clipping is monotone, so the sign constraints still hold.
    """

    def fit(self, X, y=None):
        values = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        missing = np.isnan(values)
        self.low_ = np.where(missing, np.inf, values).min(axis=0, initial=np.inf)
        self.high_ = np.where(missing, -np.inf, values).max(axis=0, initial=-np.inf)
        return self

    def transform(self, X):
        values = validate_data(
            self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False, copy=True
        )
        seen = self.low_ <= self.high_  # a column never observed has no range
        values[:, seen] = np.clip(values[:, seen], self.low_[seen], self.high_[seen])
        return values


class FillNeverObserved(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Give a column that was entirely missing in training a constant 0.

    A clinic that never collects SRS has SRS features that are all missing; gradient
    boosting cannot bin a column with no values. A constant carries no information,
    which is exactly what the model knows about that column; other columns keep their
    missing values for the trees to route.
    """

    def fit(self, X, y=None):
        values = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        self.never_observed_ = np.isnan(values).all(axis=0)
        return self

    def transform(self, X):
        values = validate_data(
            self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False, copy=True
        )
        values[:, self.never_observed_] = 0.0
        return values


def tree_preprocessor(
    numeric=NUMERIC_FEATURES, categorical=CATEGORICAL_FEATURES
) -> ColumnTransformer:
    """Numbers as they are (trees split on missing natively); categories one-hot.

    One-hot rather than HistGradientBoosting's native categorical splits: SHAP's tree
    explainer does not follow native categorical splits (its contributions stop adding
    up to the margin), and exact explanations matter more here than a few splits.
    """
    steps = [(name, FillNeverObserved(), [name]) for name in numeric]
    steps += [(name, _one_hot(), [name]) for name in categorical]
    return ColumnTransformer(steps, verbose_feature_names_out=True).set_output(transform="pandas")


def make_logistic(params: dict, seed: int) -> Pipeline:
    """L2-regularised logistic regression on scaled, imputed, one-hot inputs.

    Coefficients of features with a certain clinical direction keep that sign.
    ``params``: ``C``.
    """
    return Pipeline(
        [
            ("preprocess", linear_preprocessor()),
            (
                "classifier",
                SignConstrainedLogisticRegression(
                    C=params["C"], directions=dict(MONOTONE_DIRECTIONS)
                ),
            ),
        ]
    )


def make_hist_gradient_boosting(params: dict, seed: int) -> Pipeline:
    """Histogram gradient boosting with native missing values and monotone constraints.

    ``params``: ``max_iter``, ``learning_rate``, ``max_leaf_nodes``, ``min_samples_leaf``,
    ``l2_regularization``. No early stopping: its validation rows would be landmarks of
    the same episodes the trees are fitted on; the search picks the number of trees.
    """
    return Pipeline(
        [
            ("preprocess", tree_preprocessor()),
            (
                "classifier",
                HistGradientBoostingClassifier(
                    **params,
                    early_stopping=False,
                    categorical_features=None,
                    # names as the tree preprocessor writes them: `<feature>__<feature>`
                    monotonic_cst={
                        f"{name}__{name}": sign for name, sign in MONOTONE_DIRECTIONS.items()
                    },
                    random_state=seed,
                ),
            ),
        ]
    )


def make_lightgbm(params: dict, seed: int) -> Pipeline:
    """LightGBM with the same inputs and monotone constraints as the sklearn boosting.

    ``params``: ``n_estimators``, ``learning_rate``, ``num_leaves``, ``min_child_samples``,
    ``reg_lambda``, ``colsample_bytree``.
    """
    return Pipeline(
        [
            ("preprocess", tree_preprocessor()),
            (
                "classifier",
                MonotoneLightGBM(**params, directions=dict(MONOTONE_DIRECTIONS), seed=seed),
            ),
        ]
    )


MAKERS = {
    "logistic": make_logistic,
    "lightgbm": make_lightgbm,
    "hist_gradient_boosting": make_hist_gradient_boosting,
}


def make_family_logistic(features: tuple[str, ...], seed: int) -> Pipeline:
    """Plain logistic regression on a subset of features: a single-family baseline."""
    numeric = tuple(f for f in features if f in NUMERIC_FEATURES)
    categorical = tuple(f for f in features if f in CATEGORICAL_FEATURES)
    return Pipeline(
        [
            ("preprocess", linear_preprocessor(numeric, categorical)),
            ("classifier", LogisticRegression(C=1.0, max_iter=5000, random_state=seed)),
        ]
    )


def search_space(candidates, n_per_candidate: int, seed: int) -> list[tuple[str, dict]]:
    """The (candidate, settings) pairs to cross-validate, simplest candidate first.

    Each candidate's grid is searched whole when it has at most ``n_per_candidate``
    settings, otherwise that many are drawn from it with ``seed`` (reproducible).

    Parameters
    ----------
    candidates
        ``configs.config.CandidatesConfig``; a candidate set to null is skipped.
    """
    rng = np.random.default_rng(seed)
    out: list[tuple[str, dict]] = []
    for name in SIMPLICITY_ORDER:
        space = getattr(candidates, name)
        if space is None:
            continue
        grid = space.grid()
        if len(grid) > n_per_candidate:
            picks = np.sort(rng.choice(len(grid), size=n_per_candidate, replace=False))
            grid = [grid[i] for i in picks]
        out += [(name, params) for params in grid]
    if not out:
        raise ValueError("training.candidates: at least one candidate must be configured")
    return out


def encoded_feature_sources(preprocessor: ColumnTransformer) -> list[str]:
    """For each encoded column of a fitted preprocessor, the original feature it came from."""
    return [name.split("__", 1)[0] for name in preprocessor.get_feature_names_out()]
