"""The client bootstrap behind the assessment's intervals: the same whether parallel or not."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.assessment import assess
from tests.conftest import make_predictions
from tests.models.test_assessment import _frames


def _predictions(n_clients: int = 240, seed: int = 0, baselines=("intake",)) -> pd.DataFrame:
    return make_predictions(n_clients, seed, baselines=baselines)


def test_parallel_bootstrap_gives_the_same_intervals(monkeypatch):
    import models.client_bootstrap as client_bootstrap

    rows = _predictions(120)
    sequential = assess(rows, baselines=("intake",), n_boot=5, min_group=20, n_jobs=1)
    monkeypatch.setattr(client_bootstrap, "_PARALLEL_ABOVE_SECONDS", 0.0)
    parallel = assess(rows, baselines=("intake",), n_boot=5, min_group=20, n_jobs=2)
    for name, frame in _frames(sequential).items():
        pd.testing.assert_frame_equal(frame, _frames(parallel)[name], obj=name)
    assert sequential.overall["auroc_ci_low"].notna().all()


def test_episode_counts_round_half_up_despite_summation_error():
    from models.client_bootstrap import episode_count

    # three rows of weight 1/3 sum to just under 1; half an episode rounds up
    assert int(episode_count(sum([1 / 3] * 3))) == 1
    assert episode_count(np.array([2.5, 0.5 - 1e-12, 1.49])).tolist() == [3, 1, 1]
