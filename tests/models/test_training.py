"""Selection rule, splits and the search space of the training path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs.config import load_config
from models.candidates import search_space
from models.training import (
    develop,
    held_out,
    search_sample,
    select_candidate,
    split_by_intake,
    targets,
)


def _cv(means: dict[tuple[int, str], list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"config": config, "candidate": name, "fold": k, "log_loss": v}
            for (config, name), values in means.items()
            for k, v in enumerate(values)
        ]
    )


def test_the_simpler_candidate_wins_within_one_standard_error():
    cv = _cv(
        {
            (0, "logistic"): [0.450, 0.446, 0.448, 0.452],
            (1, "lightgbm"): [0.446, 0.452, 0.444, 0.450],
        }
    )
    assert select_candidate(cv) == 0


def test_a_clearly_better_candidate_wins():
    cv = _cv(
        {
            (0, "logistic"): [0.470, 0.471, 0.469, 0.470],
            (1, "lightgbm"): [0.440, 0.441, 0.439, 0.440],
            (2, "lightgbm"): [0.445, 0.446, 0.444, 0.445],
        }
    )
    assert select_candidate(cv) == 1


def test_split_by_intake_puts_the_latest_intakes_last():
    labels = pd.Series([0, 1, 0, 1, 0], index=["a", "b", "c", "d", "e"])
    dates = pd.to_datetime(
        pd.Series(["2025-05-01", "2025-01-01", "2025-03-01", "2025-02-01", "2025-04-01"])
    )
    dates.index = labels.index
    earlier, later = split_by_intake(labels, dates, 0.4)
    assert list(earlier) == ["b", "c", "d"] and list(later) == ["a", "e"]


def test_the_held_out_share_is_close_to_the_fraction():
    ids = np.array([f"c{i}" for i in range(1000)])
    held = held_out(ids, 0.2, seed=0)
    assert 150 <= held.sum() <= 250


def test_a_held_out_client_stays_held_out_in_a_longer_history():
    """The side depends on the client's id and the seed only (pipeline.commands.promote relies on it)."""
    first = np.array([f"c{i}" for i in range(400)])
    longer = np.array([f"c{i}" for i in range(2000)][::-1])
    held_first = set(first[held_out(first, 0.2, 5)])
    held_longer = set(longer[held_out(longer, 0.2, 5)])
    assert held_first and held_first == held_longer & set(first)
    assert set(first[held_out(first, 0.2, 6)]) != held_first
    ids = [f"c{i}" for i in range(20)]
    assert held_out(ids, 0.2, 5).tolist() == [c in held_first for c in ids]
    assert held_out(np.array(["x"]), 0.0, 1).tolist() == [False]
    assert held_out(np.array(["x"]), 1.0, 1).tolist() == [True]


def test_the_search_sample_takes_whole_clients_up_to_the_row_cap():
    groups = np.repeat([f"c{i}" for i in range(100)], np.arange(1, 101) % 7 + 1)
    sample = search_sample(groups, 200, seed=3)
    assert len(sample) <= 200 and len(sample) > 150
    chosen = set(groups[sample])
    # whole clients only: every row of a chosen client is in, none of the others
    assert set(np.flatnonzero(np.isin(groups, list(chosen)))) == set(sample)
    np.testing.assert_array_equal(sample, search_sample(groups, 200, seed=3))
    assert len(search_sample(groups, 10_000, seed=3)) == len(groups)


def test_search_space_is_seeded_capped_and_simplest_first(tmp_path):
    cfg = load_config()
    space = search_space(cfg.training.candidates, 2, seed=3)
    names = [name for name, _ in space]
    assert names == [
        "logistic",
        "logistic",
        "lightgbm",
        "lightgbm",
        "hist_gradient_boosting",
        "hist_gradient_boosting",
    ]
    assert space == search_space(cfg.training.candidates, 2, seed=3)
    assert space != search_space(cfg.training.candidates, 2, seed=4)


def test_a_candidate_set_to_null_is_skipped(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  candidates:\n    lightgbm: null\n    logistic:\n      C: 1.0\n")
    space = search_space(load_config(path).training.candidates, 4, seed=0)
    assert {name for name, _ in space} == {"logistic", "hist_gradient_boosting"}
    assert space[0] == ("logistic", {"C": 1.0})


def test_search_values_are_checked(tmp_path):
    from configs.errors import InputError

    path = tmp_path / "c.yaml"
    path.write_text("training:\n  candidates:\n    lightgbm:\n      num_leaves: [15, -3]\n")
    with pytest.raises(InputError, match="training.candidates.lightgbm.*num_leaves.*> 0"):
        load_config(path)


@pytest.mark.parametrize("calibrate_on", ["all", "snapshots"])
def test_the_calibration_is_fitted_on_the_rows_config_names(config, monkeypatch, calibrate_on):
    from configs.settings import FeatureSettings
    from features.landmarks import build_examples
    from models import risk_model
    from pipeline.contract.validation import validate_tables
    from pipeline.synthetic import generate_cohort

    clients, sessions = generate_cohort(300, 5, config.instruments)
    tables = validate_tables(
        clients, sessions, config.instruments, clients_file="c.csv", sessions_file="s.csv"
    )
    examples, _, _ = build_examples(tables, config)
    t = targets(examples, config.label.horizon_days)
    snapshots = examples["example_kind"].eq("snapshot").to_numpy()
    fitted = []
    real = risk_model._fit_calibrator

    def spy(method, margin, y, w):
        fitted.append(len(margin))
        return real(method, margin, y, w)

    monkeypatch.setattr(risk_model, "_fit_calibrator", spy)
    training = config.training.model_copy(
        update={"cv_folds": 2, "calibration": "sigmoid", "calibrate_on": calibrate_on}
    )
    develop(
        examples,
        training,
        FeatureSettings.from_config(config).to_dict(),
        fixed=("logistic", {"C": 0.5}),
    )
    on = snapshots if calibrate_on == "snapshots" else np.ones(len(examples), dtype=bool)
    # the risk model's calibrator, then the horizon model's, each on its observed rows
    assert fitted == [int(((t.w > 0) & on).sum()), int(((t.w_horizon > 0) & on).sum())]
    assert fitted[0] < int((t.w > 0).sum()) or calibrate_on == "all"
