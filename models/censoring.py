"""Episodes still open at the export: censored outcomes and their weights.

Whether an example's episode ended in dropout is known only when it ended before the
export; an episode still open then is *censored* (EVIDENCE.md: open episodes are
censored, not unlabelled). Dropping the open ones would over-represent quick endings,
and dropouts end quickest, so the model would learn too high a dropout rate. Inverse
probability of censoring weighting (IPCW; Robins & Rotnitzky 1992, as used for direct
binomial regression on cumulative incidence by Scheike, Zhang & Gerds 2008, and in
landmarking by van Houwelingen 2007) keeps the ended examples and weighs each by one over
the chance that an example's end was observed that far out: an example whose episode
ended ``t`` days after it is observed only if the export came at least ``t`` days after
it, and the share of examples with that much follow-up estimates that chance.

The censoring here is administrative: an example's follow-up is simply the days from
its date to the export, known for every example. So the censoring distribution is the
distribution of follow-up itself, with no model needed. A weight depends on *when* an
episode ended (and on the follow-up), never on *how* it ended: flip a dropout to a
completion with the same dates and its weights do not change (tested).
"""

from __future__ import annotations

import numpy as np

# follow-up shares below this are not trusted (weights above 1 / MIN_SURVIVAL are cut
# there): few examples were watched that long, and one of them should not carry many
MIN_SURVIVAL = 0.05


def observed_until(event_days: np.ndarray, horizon_days: float | None) -> np.ndarray:
    """Days of follow-up an example needs for its target to be known.

    For the eventual outcome, until the episode ends; for the outcome within a horizon,
    until it ends or the horizon passes, whichever comes first. Open episodes (NaN) need
    the horizon (or forever, without one).
    """
    need = np.where(np.isnan(event_days), np.inf, np.asarray(event_days, dtype=float))
    if horizon_days is not None:
        need = np.minimum(need, float(horizon_days))
    return need


def follow_up_survival(follow_up_days: np.ndarray, at_days: np.ndarray) -> np.ndarray:
    """The share of examples followed for at least ``at_days`` days: G(t) = P(C >= t)."""
    follow = np.sort(np.asarray(follow_up_days, dtype=float))
    at = np.asarray(at_days, dtype=float)
    if not len(follow):
        return np.zeros_like(at)
    below = np.searchsorted(follow, at, side="left")
    return (len(follow) - below) / len(follow)


def censoring_weights(
    event_days: np.ndarray,
    follow_up_days: np.ndarray,
    *,
    horizon_days: float | None = None,
    reference_follow_up: np.ndarray | None = None,
) -> np.ndarray:
    """IPCW weights: 1 / G(needed follow-up) where the target was observed, else 0.

    Parameters
    ----------
    event_days
        Days from each example to its episode's end; NaN while the episode is open.
    follow_up_days
        Days from each example to the export.
    horizon_days
        None for the eventual outcome; else the horizon of the target.
    reference_follow_up
        The follow-up times G is estimated from (default: ``follow_up_days``), e.g. all
        examples of a training set when weighting a part of it.

    Returns
    -------
    numpy.ndarray
        Non-negative weights; 0 for a censored example. In expectation every example
        weighs 1 whatever its outcome (the point of IPCW).
    """
    follow = np.asarray(follow_up_days, dtype=float)
    need = observed_until(np.asarray(event_days, dtype=float), horizon_days)
    seen = need <= follow
    reference = follow if reference_follow_up is None else np.asarray(reference_follow_up)
    survival = follow_up_survival(reference, np.where(seen, need, 0.0))
    weights = np.zeros(len(follow))
    weights[seen] = 1.0 / np.maximum(survival[seen], MIN_SURVIVAL)
    return weights


def horizon_outcome(outcome: np.ndarray, event_days: np.ndarray, horizon_days: float) -> np.ndarray:
    """1 when the episode ended in dropout within ``horizon_days`` of the example, else 0.

    Open episodes give 0 (their weight says whether that 0 was observed)."""
    dropout = np.nan_to_num(np.asarray(outcome, dtype=float)) == 1
    soon = np.nan_to_num(np.asarray(event_days, dtype=float), nan=np.inf) <= horizon_days
    return (dropout & soon).astype(int)
