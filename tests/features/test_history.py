"""Therapist and site history: shrunk, out of fold, never from the example's own episode."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.history import DropoutHistoryEncoder, estimate_shrinkage, out_of_fold_history


def _rows(spec: dict[str, tuple[int, int]], landmarks: int = 2) -> pd.DataFrame:
    """Landmark rows: therapist -> (dropouts, completions); each episode has 2 rows."""
    rows = []
    for therapist, (dropouts, completions) in spec.items():
        for k in range(dropouts + completions):
            for _ in range(landmarks):
                rows.append(
                    {
                        "client_id": f"{therapist}-{k}",
                        "therapist_id": therapist,
                        "site": "north",
                        "y": int(k < dropouts),
                        "weight": 1 / landmarks,
                    }
                )
    return pd.DataFrame(rows)


def test_rates_are_shrunk_toward_the_overall_rate_and_count_episodes_once():
    rows = _rows({"T1": (8, 2), "T2": (2, 8)})
    enc = DropoutHistoryEncoder(shrinkage=10, min_episodes=1)
    enc.fit(rows, rows["y"], sample_weight=rows["weight"])
    assert enc.prior_ == pytest.approx(0.5)
    # 10 episodes (not 20 rows) at 80%, shrunk with 10 episodes of prior weight at 50%
    assert enc.rates_["therapist_id"]["T1"] == pytest.approx((8 + 10 * 0.5) / (10 + 10))
    out = enc.transform(pd.DataFrame({"therapist_id": ["T1", "T2", "new", None], "site": "x"}))
    assert out["therapist_dropout_rate"].tolist()[2:] == [0.5, 0.5]  # unseen, missing: prior
    assert out["therapist_dropout_rate"].iloc[0] > 0.5 > out["therapist_dropout_rate"].iloc[1]


def test_small_groups_are_not_stored():
    rows = _rows({"T1": (3, 1), "T2": (10, 10)})
    enc = DropoutHistoryEncoder(min_episodes=5).fit(rows, rows["y"], sample_weight=rows["weight"])
    assert "T1" not in enc.rates_["therapist_id"] and "T2" in enc.rates_["therapist_id"]
    assert enc.transform(rows.head(1))["therapist_dropout_rate"].iloc[0] == enc.prior_


def test_keys_are_matched_after_stripping_spaces():
    rows = _rows({"T1": (8, 2), "T2": (2, 8)})
    enc = DropoutHistoryEncoder(shrinkage=1, min_episodes=1)
    enc.fit(rows, rows["y"], sample_weight=rows["weight"])
    a = enc.transform(pd.DataFrame({"therapist_id": ["T1"], "site": ["north"]}))
    b = enc.transform(pd.DataFrame({"therapist_id": [" T1 "], "site": ["north "]}))
    pd.testing.assert_frame_equal(a, b)
    # and both found T1's own rate: two unmatched keys would be equal too (the prior)
    assert a["therapist_dropout_rate"].iloc[0] == pytest.approx(enc.rates_["therapist_id"]["T1"])
    assert a["therapist_dropout_rate"].iloc[0] != pytest.approx(enc.prior_)


def _episodes(rows: pd.DataFrame, y: np.ndarray):
    first = ~rows["client_id"].duplicated().to_numpy()
    return rows[first].reset_index(drop=True), y[first], rows["client_id"].to_numpy()[first]


def test_out_of_fold_encoding_never_sees_its_own_episode():
    rng = np.random.default_rng(0)
    rows = _rows({f"T{i}": (int(rng.integers(2, 9)), int(rng.integers(2, 9))) for i in range(6)})
    args = {"shrinkage": 5.0, "min_episodes": 1}
    y = rows["y"].to_numpy()
    groups = rows["client_id"].to_numpy()
    fold = pd.factorize(groups)[0] % 3  # whole episodes per fold
    base = out_of_fold_history(rows, groups, fold, _episodes(rows, y), **args)
    for client in rows["client_id"].unique()[::5]:
        own = (rows["client_id"] == client).to_numpy()
        flipped = np.where(own, 1 - y, y)
        again = out_of_fold_history(rows, groups, fold, _episodes(rows, flipped), **args)
        # the episode's own value is unchanged by its own label ...
        pd.testing.assert_frame_equal(base[own], again[own])
    # ... while the label does reach other episodes (the check above is not vacuous)
    assert not base.equals(again)
    # every landmark of an episode gets the same value (one fold per episode)
    assert (base.groupby(rows["client_id"])["therapist_dropout_rate"].nunique() == 1).all()


def test_shrinkage_grows_when_therapists_do_not_differ():
    episodes = np.full(20, 50.0)
    same = estimate_shrinkage(episodes * 0.2, episodes, 0.2)
    rates = np.linspace(0.05, 0.6, 20)
    different = estimate_shrinkage(rates * episodes, episodes, float(rates.mean()))
    assert same == 500.0 and different < 20


def test_a_few_keys_are_looked_up_as_the_pandas_path_does():
    from features.group_rates import history_frame

    rates = {
        "therapist_id": {"T1": 0.1, "T 2": 0.2, "x": 0.3},
        "site": {"north": 0.4, "b": 0.5},
    }
    therapists = ["T1", " T1 ", "T 2", "\tx\x0b", "\x1cx\x1f", "", "  ", None, np.nan, "T9", "T9 "]
    sites = ["north", "north\n", None, "b", " b", "", "south", np.nan, "b\r", "\x0cb", "x"]
    X = pd.DataFrame({"therapist_id": therapists, "site": sites}, dtype=object)
    few = history_frame(X, rates, 0.25)
    # the same rows among more than 64, which go the pandas way
    many = history_frame(pd.concat([X] * 7, ignore_index=True), rates, 0.25).iloc[: len(X)]
    pd.testing.assert_frame_equal(few, many)
    assert few["therapist_dropout_rate"].tolist()[:4] == [0.1, 0.1, 0.2, 0.3]
    assert few["site_dropout_rate"].tolist()[:4] == [0.4, 0.4, 0.25, 0.5]
    # a key outside ASCII takes the pandas way, whatever its length
    odd = pd.DataFrame({"therapist_id": ["\u00a0T1\u00a0", "T1"], "site": ["north", None]})
    assert history_frame(odd, rates, 0.25)["therapist_dropout_rate"].tolist() == [0.1, 0.1]
