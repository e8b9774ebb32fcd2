"""Therapist and site history: the past dropout rate of the client's therapist and site.

Clinical signal: a real share of dropout variance lies between therapists, and trainee
therapists lose more clients (Swift & Greenberg 2012; EVIDENCE.md). A therapist's past
dropout rate carries that, but it is a *target* encoding and leaks the label unless it
is built out of fold: an example's own episode (and every other landmark of it) must
never inform its value. Rates are shrunk toward the overall rate, more for therapists
with few episodes, so a new therapist gets the overall rate (the prior).

Privacy: the fitted encoder holds, per therapist id and per site, one shrunk rate, and
only for groups with at least ``min_episodes`` labelled episodes (small cells are left
out and get the prior): no client id, no row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from features.group_rates import HISTORY_COLUMNS, group_keys, history_frame

# shrinkage bounds in episodes: never trust a group alone, never ignore a large one
_MIN_SHRINKAGE, _MAX_SHRINKAGE = 1.0, 500.0


def estimate_shrinkage(events: np.ndarray, episodes: np.ndarray, prior: float) -> float:
    """Episodes of prior weight for a beta-binomial style shrinkage, by moments.

    The between-group variance of the true rates, tau^2, is the observed variance of the
    group rates minus its expected binomial noise; the shrinkage is p(1-p)/tau^2 episodes
    (the empirical-Bayes estimate), bounded to [1, 500].

    Parameters
    ----------
    events, episodes
        Per group: (weighted) dropouts and (weighted) labelled episodes.
    prior
        Overall dropout rate.
    """
    keep = episodes > 0
    events, episodes = events[keep], episodes[keep]
    if len(episodes) < 2 or not 0 < prior < 1:
        return _MAX_SHRINKAGE
    rates = events / episodes
    observed = np.average((rates - prior) ** 2, weights=episodes)
    noise = prior * (1 - prior) * len(episodes) / episodes.sum()
    tau2 = observed - noise
    if tau2 <= 0:
        return _MAX_SHRINKAGE
    return float(np.clip(prior * (1 - prior) / tau2, _MIN_SHRINKAGE, _MAX_SHRINKAGE))


class DropoutHistoryEncoder(TransformerMixin, BaseEstimator):
    """Shrunk past dropout rate of each row's therapist and site.

    Parameters
    ----------
    shrinkage
        ``"auto"`` (estimated per column by :func:`estimate_shrinkage`) or a number of
        episodes of prior weight.
    min_episodes
        Groups with fewer labelled episodes are not stored; their rows get the prior.

    Notes
    -----
    ``fit`` takes landmark rows with their weights (an episode's rows sum to 1), so
    episodes, not rows, are counted. Use :func:`out_of_fold_history` for training rows;
    ``transform`` is for rows of episodes the encoder was not fitted on.
    """

    def __init__(self, *, shrinkage: str | float = "auto", min_episodes: int = 5):
        self.shrinkage = shrinkage
        self.min_episodes = min_episodes

    def fit(self, X: pd.DataFrame, y, sample_weight=None) -> DropoutHistoryEncoder:
        y = np.asarray(y, dtype=float)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.prior_ = float(np.average(y, weights=w)) if w.sum() > 0 else 0.0
        self.rates_: dict[str, dict[str, float]] = {}
        self.shrinkage_: dict[str, float] = {}
        for column in HISTORY_COLUMNS:
            keys = group_keys(X[column]) if column in X else pd.Series(pd.NA, index=X.index)
            frame = pd.DataFrame({"key": keys.to_numpy(), "event": w * y, "episode": w})
            stats = frame.dropna(subset=["key"]).groupby("key")[["event", "episode"]].sum()
            events, episodes = stats["event"].to_numpy(), stats["episode"].to_numpy()
            m = (
                estimate_shrinkage(events, episodes, self.prior_)
                if self.shrinkage == "auto"
                else float(self.shrinkage)
            )
            rates = (events + m * self.prior_) / (episodes + m)
            # episodes are whole (weights sum to 1 per episode): round away float noise
            large = np.round(episodes, 6) >= self.min_episodes
            self.rates_[column] = dict(zip(stats.index[large], rates[large].tolist(), strict=True))
            self.shrinkage_[column] = m
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return history_frame(X, self.rates_, self.prior_)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array(list(HISTORY_COLUMNS.values()), dtype=object)


def out_of_fold_history(
    X: pd.DataFrame,
    groups,
    fold,
    episodes: tuple[pd.DataFrame, np.ndarray, np.ndarray],
    *,
    shrinkage: str | float = "auto",
    min_episodes: int = 5,
) -> pd.DataFrame:
    """History features for training rows, each from an encoder that never saw its episode.

    A therapist's past dropout rate counts episodes, not rows: ``episodes`` holds one row
    per episode with a known ending (its model inputs, its outcome, its client id). The
    rows of fold ``k`` (``fold``: a fold number per row, whole episodes per fold) are
    encoded by an encoder fitted on the episodes of the other folds, so neither an
    example's own outcome nor anything else of its episode reaches its value.

    Returns
    -------
    pandas.DataFrame
        ``therapist_dropout_rate`` and ``site_dropout_rate``, same index as ``X``.
    """
    X_ep, y_ep, ep_ids = episodes
    fold = np.asarray(fold)
    fold_of_client = pd.Series(fold, index=np.asarray(groups)).groupby(level=0).first()
    ep_fold = fold_of_client.reindex(ep_ids).to_numpy()
    out = pd.DataFrame(index=X.index, columns=list(HISTORY_COLUMNS.values()), dtype=float)
    for k in np.unique(fold):
        fit = ep_fold != k
        encoder = DropoutHistoryEncoder(shrinkage=shrinkage, min_episodes=min_episodes)
        encoder.fit(X_ep[fit], np.asarray(y_ep)[fit])
        rows = fold == k
        out.loc[rows] = encoder.transform(X[rows]).to_numpy()
    return out
