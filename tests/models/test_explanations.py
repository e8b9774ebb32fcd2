"""The assessment's explanation: feature importance with families and binned dependence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.assessment import assess
from tests.conftest import make_predictions


def _predictions(n_clients: int = 240, seed: int = 0, baselines=("intake",)) -> pd.DataFrame:
    return make_predictions(n_clients, seed, baselines=baselines)


def _explained(rows: pd.DataFrame, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    sample = rows.set_index("client_id").iloc[:200]  # indexed by client id on purpose
    values = pd.DataFrame(
        {
            "attendance_rate": rng.uniform(0, 1, len(sample)),
            "no_shows": rng.integers(0, 4, len(sample)).astype(float),
            "prior_episodes": rng.integers(0, 3, len(sample)).astype(float),
        },
        index=sample.index,
    )
    contributions = pd.DataFrame(
        {
            "attendance_rate": -0.8 * (values["attendance_rate"] - 0.5),
            "no_shows": 0.5 * (values["no_shows"] - 1),
            "prior_episodes": 0.05 * values["prior_episodes"],
        },
        index=sample.index,
    )
    return contributions, values


def test_importance_is_sorted_with_families_and_dependence_is_binned():
    rows = _predictions()
    contributions, values = _explained(rows)
    a = assess(
        rows,
        n_boot=0,
        contributions=contributions,
        feature_values=values,
        feature_families={
            "attendance_rate": "attendance",
            "no_shows": "attendance",
            "prior_episodes": "history",
        },
        dependence_features=["attendance_rate", "no_shows", "not_a_feature"],
        min_cell=10,
    )
    imp = a.shap_importance
    assert imp["feature"].tolist() == ["no_shows", "attendance_rate", "prior_episodes"]
    assert imp["family"].tolist() == ["attendance", "attendance", "history"]
    assert imp["mean_abs_contribution"].is_monotonic_decreasing
    assert set(a.dependence) == {"attendance_rate", "no_shows"}
    shows = a.dependence["no_shows"]
    assert shows["value_mid"].tolist() == [0.0, 1.0, 2.0, 3.0]  # few values: one bin each
    rate = a.dependence["attendance_rate"]
    assert len(rate) <= 10 and (rate["n"] >= 10).all()
    assert (rate["q25"] <= rate["mean_contribution"] + 1e-9).all()
    # outer edges are bottom- and top-coded, never the single smallest or largest value
    assert rate["value_low"].min() > values["attendance_rate"].min()
    assert rate["value_high"].max() < values["attendance_rate"].max()


def test_without_contributions_the_explanation_is_empty():
    a = assess(_predictions(), n_boot=0)
    assert a.shap_importance.empty
    assert list(a.shap_importance.columns) == ["feature", "family", "mean_abs_contribution"]
    assert a.dependence == {}
