"""Plain-language reasons: the client's own values, only what raises risk and happened."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs.settings import FeatureSettings
from features.landmarks import landmark_examples
from features.schema import FEATURE_NAMES
from models.reasons import reason_templates, top_reasons
from tests.conftest import make_clients, make_sessions


@pytest.fixture
def example(config):
    clients = make_clients({"client_id": "C1"})
    sessions = make_sessions(
        "C1",
        "2026-01-12",
        ["attended", "attended", "attended", "no_show", "no_show"],
        wai_bond=[4.4, 4.2, 3.0, None, None],
        wai_goal=[4.0, 4.0, 4.2, None, None],
        wai_task=[4.0, 4.0, 4.0, None, None],
        srs_total=[38, 36, 31, None, None],
    )
    ex = landmark_examples(clients, sessions, config.instruments, config.features)
    return ex[ex["landmark"] == 5].reset_index(drop=True)


def _contrib(**values) -> pd.DataFrame:
    frame = pd.DataFrame(np.zeros((1, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    for name, value in values.items():
        frame[name] = value
    return frame


def test_bond_fall_is_described_with_values_and_session_numbers(example, config):
    contributions = _contrib(wai_bond_unrepaired=0.9, wai_bond_slope=0.4)
    reasons = top_reasons(
        example, contributions, FeatureSettings.from_config(config).to_dict()
    ).iloc[0]
    assert reasons["reason_1"] == (
        "Bond rating fell from 4.2 to 3.0 between sessions 2 and 3 and has not recovered"
    )
    # the slope spans the last three ratings
    assert reasons["reason_2"] == "Bond rating fell from 4.4 to 3.0 between sessions 1 and 3"
    assert reasons["reason_3"] == ""


def test_reasons_are_ordered_by_contribution(example, config):
    contributions = _contrib(no_shows=0.3, misses_since_last_attended=0.8, srs_below_cutoff=0.5)
    reasons = top_reasons(
        example, contributions, FeatureSettings.from_config(config).to_dict()
    ).iloc[0]
    assert reasons["reason_1"] == "2 missed appointments since the last attended session"
    assert reasons["reason_2"] == "Last SRS total 31.0 is below the alliance-concern cut-off of 36"
    assert reasons["reason_3"] == "2 no-shows in the first 5 appointments"


def test_contributions_that_lower_risk_are_not_reasons(example, config):
    reasons = top_reasons(
        example, _contrib(no_shows=-0.5, age=-0.1), FeatureSettings.from_config(config).to_dict()
    )
    assert (reasons.iloc[0] == "").all()


def test_nothing_that_did_not_happen_is_a_reason(example, config):
    # a rising goal rating and zero late cancels can sit above the average contribution,
    # but "goal rating rose" or "0 late cancellations" is no reason to call a client
    contributions = _contrib(wai_goal_slope=0.4, late_cancels=0.3, wai_task_ruptures=0.2, age=0.1)
    reasons = top_reasons(
        example, contributions, FeatureSettings.from_config(config).to_dict()
    ).iloc[0]
    assert reasons["reason_1"] == "Age 30 at intake"
    assert reasons["reason_2"] == ""


def test_history_is_a_reason_only_above_the_overall_rate(example, config):
    contributions = _contrib(therapist_dropout_rate=0.6, site_dropout_rate=0.5, no_shows=0.1)
    settings = FeatureSettings.from_config(config).to_dict()
    above = example.assign(
        therapist_dropout_rate=0.34, site_dropout_rate=0.18, ctx_history_prior=0.21
    )
    reasons = top_reasons(above, contributions, settings).iloc[0]
    assert reasons["reason_1"] == "Past dropout rate with this therapist: 34% (all therapists: 21%)"
    # the site is below the overall rate: not a reason, whatever its contribution
    assert reasons["reason_2"] == "2 no-shows in the first 5 appointments"
    # without the model's history values joined, history is never a reason
    assert top_reasons(example, contributions, settings).iloc[0]["reason_1"] == (
        "2 no-shows in the first 5 appointments"
    )


def test_low_alliance_with_misses_is_worded_with_both(example, config):
    reasons = top_reasons(
        example, _contrib(low_alliance_x_misses=0.5), FeatureSettings.from_config(config).to_dict()
    )
    level = example["alliance_level"].iloc[0]
    assert reasons.iloc[0]["reason_1"] == (
        f"2 missed appointments while alliance ratings are at {100 * level:.0f}% of the scale"
    )


def test_intake_attributes_read_as_plain_facts(example, config):
    contributions = _contrib(planned_sessions=0.4, age=0.2)
    reasons = top_reasons(
        example, contributions, FeatureSettings.from_config(config).to_dict()
    ).iloc[0]
    assert reasons["reason_1"] == "Planned course of 12 sessions"
    assert reasons["reason_2"] == "Age 30 at intake"


def test_every_feature_has_words(config):
    templates = reason_templates(FeatureSettings.from_config(config).to_dict())
    assert set(FEATURE_NAMES) <= set(templates)


def test_row_reader_reads_what_to_dict_gives():
    from models.reasons import RowReader

    frame = pd.DataFrame(
        {
            "count": [1, 2],
            "level": [4.2, np.nan],
            "site": pd.array(["north", None], dtype="string"),
            "flag": [True, False],
        }
    )
    rows = RowReader(frame)
    assert len(rows) == 2
    for i, record in enumerate(frame.to_dict("records")):
        for name, value in record.items():
            got = rows[i][name]
            if isinstance(value, float) and np.isnan(value):
                assert np.isnan(got)
            elif value is pd.NA:
                assert got is None
            else:
                assert got == value
    assert rows[1].get("missing", "default") == "default"
    assert "level" in rows[0] and "missing" not in rows[0]
