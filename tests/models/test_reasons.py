"""Plain-language reasons: the client's own values, only what raises risk and happened.

Reasons are signals only, one per topic; what the lead cannot change is the context line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs.settings import FeatureSettings
from features.landmarks import landmark_examples
from features.schema import FEATURE_NAMES
from models.reasons import (
    CONTEXT_FEATURES,
    TOPICS,
    is_signal,
    reason_templates,
    top_reasons,
)
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


def _examples(config, statuses: list[str], **client) -> pd.DataFrame:
    """One client's example at its last appointment (no ratings)."""
    clients = make_clients({"client_id": "C1", **client})
    sessions = make_sessions("C1", "2026-01-12", statuses)
    ex = landmark_examples(clients, sessions, config.instruments, config.features)
    return ex[ex["landmark"] == len(statuses)].reset_index(drop=True)


def _settings(config) -> dict:
    return FeatureSettings.from_config(config).to_dict()


def _contrib(**values) -> pd.DataFrame:
    frame = pd.DataFrame(np.zeros((1, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    for name, value in values.items():
        frame[name] = value
    return frame


def test_bond_fall_is_described_with_values_and_session_numbers(example, config):
    contributions = _contrib(wai_bond_unrepaired=0.9, wai_bond_slope=0.4)
    reasons = top_reasons(example, contributions, _settings(config)).iloc[0]
    assert reasons["reason_1"] == (
        "Bond rating fell from 4.2 to 3.0 between sessions 2 and 3 and has not recovered"
    )
    # the slope is the same topic (the bond rating): no second reason from it
    assert reasons["reason_2"] == ""
    # the slope spans the last three ratings
    slope = top_reasons(example, _contrib(wai_bond_slope=0.4), _settings(config)).iloc[0]
    assert slope["reason_1"] == "Bond rating fell from 4.4 to 3.0 between sessions 1 and 3"


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
    assert reasons["reason_1"] == ""
    assert reasons["context"] == "Context: age 30 at intake"


def test_history_is_context_only_above_the_overall_rate(example, config):
    contributions = _contrib(therapist_dropout_rate=0.6, site_dropout_rate=0.5, no_shows=0.1)
    settings = FeatureSettings.from_config(config).to_dict()
    above = example.assign(
        therapist_dropout_rate=0.34, site_dropout_rate=0.18, ctx_history_prior=0.21
    )
    reasons = top_reasons(above, contributions, settings).iloc[0]
    # history is context, never a reason; the site is below the overall rate: not even that
    assert reasons["reason_1"] == "2 no-shows in the first 5 appointments"
    assert reasons["context"] == (
        "Context: past dropout rate with this therapist: 34% (all therapists: 21%)"
    )
    # without the model's history values joined, history is not context either
    assert top_reasons(example, contributions, settings).iloc[0]["context"] == ""


def test_low_alliance_with_misses_is_worded_with_both(example, config):
    reasons = top_reasons(
        example, _contrib(low_alliance_x_misses=0.5), FeatureSettings.from_config(config).to_dict()
    )
    level = example["alliance_level"].iloc[0]
    assert reasons.iloc[0]["reason_1"] == (
        f"2 missed appointments while alliance ratings are at {100 * level:.0f}% of the scale"
    )


def test_context_is_never_a_reason_but_a_line_of_its_own(config):
    example = _examples(
        config,
        ["attended", "attended", "no_show", "attended", "no_show"],
        planned_sessions=30.0,
        age=19.0,
        referral_source="court",
    )
    contributions = _contrib(
        planned_sessions=0.9, age=0.6, plan_progress=0.3, no_shows=0.2, days_since_last_attended=0.1
    )
    reasons = top_reasons(example, contributions, _settings(config)).iloc[0]
    assert reasons["reason_1"] == "2 no-shows in the first 5 appointments"
    assert reasons["reason_2"] == "7 days since the last attended session"
    assert reasons["reason_3"] == ""
    # the progress through the plan would say the course length again: one item
    assert reasons["context"] == "Context: planned course of 30 sessions; age 19 at intake"


def test_context_lists_at_most_three_items_strongest_first(config):
    example = _examples(config, ["attended", "no_show"], referral_source="court")
    contributions = _contrib(site=0.1, referral_source=0.5, age=0.3, gender=0.2, program=-0.4)
    reasons = top_reasons(example, contributions, _settings(config)).iloc[0]
    assert reasons["context"] == (
        "Context: referral source: court; age 30 at intake; gender: female"
    )
    assert (reasons[["reason_1", "reason_2", "reason_3"]] == "").all()


def test_no_context_is_an_empty_string(example, config):
    reasons = top_reasons(example, _contrib(no_shows=0.3, age=-0.2), _settings(config))
    assert list(reasons.columns) == ["reason_1", "reason_2", "reason_3", "context"]
    assert reasons.iloc[0]["context"] == ""


def test_context_words_keep_acronyms():
    from models.reasons import _lower_first

    assert _lower_first("Planned course of 30 sessions") == "planned course of 30 sessions"
    assert _lower_first("SRS total 31.0 at session 3") == "SRS total 31.0 at session 3"


def test_no_session_attended_is_one_merged_attendance_reason(config):
    example = _examples(config, ["no_show"] * 4, planned_sessions=16.0)
    contributions = _contrib(
        misses_since_last_attended=0.8,
        plan_progress=0.6,
        attendance_rate=0.5,
        no_shows=0.4,
        days_since_last_attended=0.3,
        missed_first_appointment=0.2,
    )
    reasons = top_reasons(example, contributions, _settings(config)).iloc[0]
    assert reasons["reason_1"] == (
        "No session attended in the 28 days since intake: 4 no-shows in 4 appointments"
    )
    assert reasons["reason_2"] == ""
    # "0 of 16 planned sessions attended" would repeat the reason: the plan is context
    assert reasons["context"] == "Context: planned course of 16 sessions"


def test_no_session_attended_means_no_rating_either_so_one_reason(config):
    example = _examples(config, ["no_show", "no_show"])
    contributions = _contrib(
        wai_bond_last=0.9, wai_task_last=0.8, srs_total_last=0.7, days_since_last_attended=0.2
    )
    reasons = top_reasons(example, contributions, _settings(config)).iloc[0]
    assert reasons["reason_1"].startswith("No session attended in the ")
    assert reasons["reason_1"].endswith(": 2 no-shows in 2 appointments")
    assert reasons["reason_2"] == "" and reasons["reason_3"] == ""


def test_no_session_attended_counts_every_kind_of_miss(config):
    example = _examples(config, ["no_show", "late_cancel", "no_show", "no_show"])
    reasons = top_reasons(example, _contrib(attendance_rate=0.5), _settings(config)).iloc[0]
    assert reasons["reason_1"] == (
        "No session attended in the 28 days since intake: 3 no-shows and 1 late cancellation in 4 appointments"
    )
    # the same one line whichever of the merged features is the strongest
    since = top_reasons(
        example, _contrib(days_since_last_attended=0.5, no_shows=0.1), _settings(config)
    )
    assert since.iloc[0]["reason_1"] == reasons["reason_1"]
    assert since.iloc[0]["reason_2"] == ""


def test_attendance_counts_are_composed_into_one_reason(config):
    statuses = ["attended", "no_show", "attended", "late_cancel", "attended", "no_show"]
    example = _examples(config, statuses)
    contributions = _contrib(no_shows=0.5, late_cancels=0.2, attendance_rate=0.1)
    reasons = top_reasons(example, contributions, _settings(config)).iloc[0]
    assert reasons["reason_1"] == "2 no-shows and 1 late cancellation in the first 6 appointments"
    assert reasons["reason_2"] == ""
    three = _examples(config, ["cancelled", *statuses[1:]])
    reasons = top_reasons(three, _contrib(attendance_rate=0.4), _settings(config)).iloc[0]
    assert reasons["reason_1"] == (
        "2 no-shows, 1 late cancellation and 1 cancellation in the first 6 appointments"
    )


def test_a_missed_first_appointment_keeps_its_own_words(config):
    example = _examples(config, ["no_show", "attended", "no_show"])
    contributions = _contrib(missed_first_appointment=0.5, no_shows=0.3)
    reasons = top_reasons(example, contributions, _settings(config)).iloc[0]
    assert reasons["reason_1"] == "Missed the first appointment"
    assert reasons["reason_2"] == ""


def test_topics_rank_by_their_summed_contribution(example, config):
    # the SRS has the largest single contribution, but the bond rating's add up to more
    contributions = _contrib(
        srs_below_cutoff=0.5,
        wai_bond_unrepaired=0.35,
        wai_bond_slope=0.25,
        misses_since_last_attended=0.25,
        no_shows=0.2,
        wai_goal_slope=0.9,  # a rise: nothing happened, so it adds nothing
    )
    reasons = top_reasons(example, contributions, _settings(config)).iloc[0]
    assert reasons["reason_1"] == (
        "Bond rating fell from 4.2 to 3.0 between sessions 2 and 3 and has not recovered"
    )
    assert reasons["reason_2"] == "Last SRS total 31.0 is below the alliance-concern cut-off of 36"
    assert reasons["reason_3"] == "2 missed appointments since the last attended session"


def test_reasons_with_the_same_words_are_given_once(example, config, monkeypatch):
    import models.reasons as reasons_module

    def same_words(settings):
        templates = reason_templates(settings)
        templates["ors_last"] = templates["srs_below_cutoff"]
        return templates

    monkeypatch.setattr(reasons_module, "reason_templates", same_words)
    contributions = _contrib(srs_below_cutoff=0.5, ors_last=0.4, no_shows=0.3)
    reasons = top_reasons(example, contributions, _settings(config)).iloc[0]
    assert reasons["reason_1"] == "Last SRS total 31.0 is below the alliance-concern cut-off of 36"
    assert reasons["reason_2"] == "2 no-shows in the first 5 appointments"
    assert reasons["reason_3"] == ""


def test_every_feature_is_a_signal_with_a_topic_or_context():
    assert {"age", "planned_sessions", "referral_source", "therapist_dropout_rate"} <= (
        CONTEXT_FEATURES
    )
    assert {"plan_progress", "days_in_treatment", "appointments"} <= CONTEXT_FEATURES
    for name in FEATURE_NAMES:
        assert is_signal(name) != (name in CONTEXT_FEATURES), name
        assert (name in TOPICS) == is_signal(name), name
    assert not is_signal("not_a_feature")
    srs = {name for name, topic in TOPICS.items() if topic == TOPICS["srs_below_cutoff"]}
    assert srs == {
        f"srs_total_{s}"
        for s in ("last", "change", "slope", "min", "ruptures", "unrepaired", "repairs")
    } | {"srs_below_cutoff", "srs_share_below_cutoff"}
    assert TOPICS["alliance_level"] == TOPICS["low_alliance_x_misses"]
    assert TOPICS["no_shows"] != TOPICS["misses_since_last_attended"]


def test_many_clients_at_once_keep_their_own_reasons(config):
    one = _examples(config, ["no_show"] * 4)
    two = _examples(config, ["attended", "no_show", "attended"])
    examples = pd.concat([one, two, one], ignore_index=True)
    contributions = pd.concat([_contrib(no_shows=0.4, age=0.1)] * 3, ignore_index=True)
    reasons = top_reasons(examples, contributions, _settings(config))
    assert list(reasons["reason_1"]) == [
        "No session attended in the 28 days since intake: 4 no-shows in 4 appointments",
        "1 no-show in the first 3 appointments",
        "No session attended in the 28 days since intake: 4 no-shows in 4 appointments",
    ]
    assert list(reasons["context"]) == ["Context: age 30 at intake"] * 3


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


def test_the_plan_is_one_context_item_not_two(config):
    example = _examples(config, ["attended"] * 6, planned_sessions=24.0)
    contributions = _contrib(plan_progress=0.5, planned_sessions=0.4, age=0.3)
    context = top_reasons(example, contributions, _settings(config)).iloc[0]["context"]
    assert context.startswith("Context: 6 of 24 planned sessions attended; ")
    assert "planned course of 24 sessions" not in context


def test_first_distinct_keeps_the_first_n_usable_words_that_are_new():
    from models.reasons import _first_distinct

    words = np.array([[4, 4, 7, 8, 9], [5, 6, 5, 6, 1], [3, -1, -1, -1, -1], [2, 2, 2, 2, 2]])
    usable = np.array(
        [[1, 1, 1, 1, 1], [0, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=bool
    )
    chosen = _first_distinct(words, usable, 3)
    assert chosen.tolist() == [[4, 7, 8], [6, 5, 1], [3, -1, -1], [2, -1, -1]]


def test_a_client_whose_first_topics_repeat_one_wording_reads_on_for_more():
    from models.reasons import ATTENDANCE_RECORD, TOPICS, _signal_reasons
    from models.row_reader import RowReader, Wording

    # seven signals of seven topics (the record's read counts together: left out), the
    # five strongest of which read alike
    by_topic: dict[str, str] = {}
    for name, topic in TOPICS.items():
        if topic != ATTENDANCE_RECORD:
            by_topic.setdefault(topic, name)
    names = list(by_topic.values())[:7]
    assert len(names) == 7
    positive = np.array([[7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    templates = {name: (lambda r, k=k: "same" if k < 5 else f"words {k}") for k, name in
                 enumerate(names)}  # fmt: skip
    wording = Wording(RowReader(pd.DataFrame({"x": [0.0]})), templates)
    chosen = _signal_reasons(names, positive, np.array([False]), wording, 3)
    assert [wording.vocabulary[i] for i in chosen[0]] == ["same", "words 5", "words 6"]
    # with nothing beyond the first topics that raises risk, the rest stay blank
    positive[0, 5:] = 0.0
    chosen = _signal_reasons(names, positive, np.array([False]), wording, 3)
    assert chosen[0].tolist()[1:] == [-1, -1]


def test_distinct_rows_give_each_row_its_own_line():
    from models.reasons import _distinct_rows

    items = np.array([[3, 0, -1], [-1, -1, -1], [3, 0, -1], [0, 3, -1], [4, 4, 4]])
    lines, which = _distinct_rows(items, words=5)
    assert len(lines) == 4
    np.testing.assert_array_equal(lines[which.ravel()], items)
    # the fallback for a vocabulary too large to read rows as one number
    lines, which = _distinct_rows(items, words=2**40)
    np.testing.assert_array_equal(lines[which.ravel()], items)
