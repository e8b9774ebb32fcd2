"""The client as the unit of the held-out assessment: episode counts and bootstrap intervals.

A client's prediction rows carry weights that sum to 1, so a sum of weights is a number of
episodes (`episode_count`), and the client is what the bootstrap resamples. Every table of
`models.assessment.assess` queues its intervals on one `BootstrapJobs`, which runs them
together so that they can share the available cores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from joblib import Parallel, delayed

from models.evaluation import bootstrap_intervals

# below this estimated bootstrap time, starting worker processes costs more than it saves
_PARALLEL_ABOVE_SECONDS = 4.0


def episode_count(weight_sum):
    """Episodes as a whole number: half rounds up, with a tolerance for summation error.

    Weights of 1/k often sum to exactly x.5, where plain rounding would depend on the
    last bit of the sum.

    Parameters
    ----------
    weight_sum
        A sum of example weights, or an array of them.

    Returns
    -------
    numpy.ndarray
        The whole number of episodes per sum (a 0-d array for a single sum).
    """
    return np.floor(np.asarray(weight_sum, dtype=float) + 0.5 + 1e-9).astype(int)


def interval(intervals: Mapping[str, tuple[float, float]], metric: str) -> tuple[float, float]:
    """The ``(low, high)`` interval of ``metric``, or two NaNs when none was computed."""
    return intervals.get(metric, (math.nan, math.nan))


@dataclass
class BootstrapJobs:
    """Client-bootstrap intervals, collected first and then run together.

    Every interval comes from `models.evaluation.bootstrap_intervals` (one definition of the
    bootstrap for the project); collecting the calls lets them share the available cores.

    Attributes
    ----------
    y, w, clients
        Outcomes, example weights and integer client codes of every prediction row.
    jobs
        The queued ``(member, p, metrics)`` jobs, in ticket order.
    """

    y: np.ndarray
    w: np.ndarray
    clients: np.ndarray
    jobs: list[tuple[np.ndarray, np.ndarray, tuple[str, ...]]] = field(default_factory=list)

    def add(self, member: np.ndarray, p: np.ndarray, metrics: tuple[str, ...]) -> int:
        """Queue the bootstrap of ``metrics`` over the rows in ``member``; return its ticket."""
        self.jobs.append((member, p, metrics))
        return len(self.jobs) - 1

    def run(self, *, n_boot: int, seed: int, n_jobs: int | None) -> list[dict]:
        """Intervals per ticket, in order; identical whether run in parallel or not."""
        if n_boot == 0 or not self.jobs:
            return [{} for _ in self.jobs]
        calls = [
            (self.y[m], p[m], self.w[m], self.clients[m], metrics) for m, p, metrics in self.jobs
        ]
        if n_jobs == 1 or len(calls) == 1 or _seconds(calls, n_boot) < _PARALLEL_ABOVE_SECONDS:
            return [
                bootstrap_intervals(y, p, w, g, n_boot=n_boot, seed=seed, metrics=metrics)
                for y, p, w, g, metrics in calls
            ]
        # largest first, so that no long job starts last
        order = sorted(range(len(calls)), key=lambda i: -len(calls[i][0]))
        results = Parallel(n_jobs=n_jobs)(
            delayed(bootstrap_intervals)(y, p, w, g, n_boot=n_boot, seed=seed, metrics=metrics)
            for y, p, w, g, metrics in (calls[i] for i in order)
        )
        out: list[dict] = [{}] * len(calls)
        for i, result in zip(order, results, strict=True):
            out[i] = result
        return out


def _seconds(calls: list[tuple], n_boot: int) -> float:
    """Estimated time of running every call in one process."""
    # a replicate of every metric costs ~6 ms in binary_metrics plus ~0.5 us per row;
    # of AUROC alone (one sort shared by all replicates) ~0.2 ms plus ~0.02 us per row
    return n_boot * sum(
        len(c[0]) * 2e-8 + 2e-4 if c[4] == ("auroc",) else len(c[0]) * 0.5e-6 + 6e-3 for c in calls
    )


def fill_auroc_ci(rows: list[dict], tickets: list[int | None], intervals: list[dict]) -> None:
    """Write the AUROC interval of each ticketed row into its ``auroc_ci_*`` cells.

    Parameters
    ----------
    rows
        Table rows with ``auroc_ci_low`` and ``auroc_ci_high`` keys; changed in place.
    tickets
        Per row, the ticket of its AUROC bootstrap, or None when it has none.
    intervals
        From `BootstrapJobs.run`.
    """
    for row, ticket in zip(rows, tickets, strict=True):
        if ticket is not None:
            row["auroc_ci_low"], row["auroc_ci_high"] = interval(intervals[ticket], "auroc")
