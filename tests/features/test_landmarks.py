"""Landmark and as-of feature rows: no leakage from the future, one vote per episode."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.landmarks import asof_examples, landmark_examples, model_inputs
from features.schema import HISTORY_FEATURES, MODEL_INPUTS, ROW_FEATURES
from pipeline.contract.validation import validate_tables
from pipeline.synthetic import generate_cohort
from tests.conftest import make_clients, make_sessions


@pytest.fixture(scope="module")
def cohort(config):
    clients, sessions = generate_cohort(300, 5, config.instruments)
    tables = validate_tables(
        clients, sessions, config.instruments, clients_file="c.csv", sessions_file="s.csv"
    )
    assert tables.issues.empty
    return tables.clients, tables.sessions


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index(["client_id", "landmark"])[list(ROW_FEATURES)].sort_index()


def test_adding_later_sessions_never_changes_an_earlier_landmark(cohort, config):
    clients, sessions = cohort
    cut = sessions["session_date"].quantile(0.6)
    early = sessions[sessions["session_date"] <= cut]
    full = landmark_examples(clients, sessions, config.instruments, config.features)
    truncated = landmark_examples(clients, early, config.instruments, config.features)
    known = full[full["cutoff_date"] <= cut]
    # every landmark that existed at the cut is identical once the later sessions arrive
    pd.testing.assert_frame_equal(
        _features(truncated), _features(known), check_exact=False, rtol=1e-12
    )
    assert len(truncated) > 100


def test_appending_a_future_session_to_one_client_leaves_its_landmarks(config):
    clients = make_clients({"client_id": "C1"})
    sessions = make_sessions(
        "C1",
        "2026-01-12",
        ["attended", "no_show", "attended"],
        wai_bond=[4.2, None, 3.0],
        wai_goal=[4.0, None, 4.0],
        wai_task=[4.0, None, 4.0],
    )
    later = make_sessions("C1", "2026-02-02", ["late_cancel"], wai_bond=[None])
    before = landmark_examples(clients, sessions, config.instruments, config.features)
    after = landmark_examples(
        clients, pd.concat([sessions, later]), config.instruments, config.features
    )
    assert len(after) == len(before) + 1
    pd.testing.assert_frame_equal(_features(after).iloc[:3], _features(before))


def test_one_landmark_row_per_landmark_reached(cohort, config):
    clients, sessions = cohort
    examples = landmark_examples(clients, sessions, config.instruments, config.features)
    assert "weight" not in examples  # no example is weighted by its episode's length
    assert set(examples["landmark"]) <= set(config.features.landmark_list())
    # an episode has one example per landmark appointment it reached, no more
    reached = examples.groupby("client_id")["landmark"].max()
    per_episode = examples.groupby("client_id").size()
    expected = reached.map(lambda k: sum(1 for m in config.features.landmark_list() if m <= k))
    assert (per_episode == expected).all()


def test_landmarks_follow_the_configured_appointments(config):
    clients = make_clients({"client_id": "C1", "intake_date": "2026-01-05"})
    sessions = make_sessions("C1", "2026-01-12", ["attended"] * 25)
    features = config.features.model_copy(update={"landmarks": (1, 3, 20)})
    ex = landmark_examples(clients, sessions, config.instruments, features)
    assert ex["landmark"].tolist() == [1, 3, 20]
    assert ex["appointments"].tolist() == [1, 3, 20]


def test_attendance_values_at_each_landmark(config):
    clients = make_clients({"client_id": "C1", "intake_date": "2026-01-05"})
    sessions = make_sessions(
        "C1", "2026-01-12", ["no_show", "attended", "late_cancel", "no_show", "cancelled"]
    )
    ex = landmark_examples(clients, sessions, config.instruments, config.features).set_index(
        "landmark"
    )
    assert ex.loc[1, "missed_first_appointment"] == 1
    assert ex.loc[1, "days_since_last_attended"] == 7  # no session attended: counted from intake
    assert ex.loc[2, "misses_since_last_attended"] == 0
    assert ex.loc[4, "misses_since_last_attended"] == 2
    assert ex.loc[5, "misses_since_last_attended"] == 2  # a cancellation with notice is no miss
    assert (
        ex.loc[5, "no_shows"] == 2
        and ex.loc[5, "late_cancels"] == 1
        and ex.loc[5, "cancellations"] == 1
    )
    assert ex.loc[5, "attendance_rate"] == pytest.approx(1 / 5)
    assert ex.loc[5, "days_since_last_attended"] == 21
    assert ex.loc[3, "longest_gap_days"] == 14  # intake 01-05 → first attended 01-19


def test_asof_uses_only_appointments_on_or_before_the_date(config):
    clients = make_clients({"client_id": "C1"}, {"client_id": "C2"})
    sessions = pd.concat(
        [
            make_sessions("C1", "2026-01-12", ["attended", "attended", "no_show", "no_show"]),
            make_sessions("C2", "2026-03-02", ["attended"]),
        ]
    )
    rows = asof_examples(
        clients, sessions, pd.Timestamp("2026-01-22"), config.instruments, config.features
    )
    assert list(rows["client_id"]) == ["C1"]  # C2 has nothing before the date
    row = rows.iloc[0]
    assert row["appointments"] == 2 and row["no_shows"] == 0
    assert row["days_since_last_attended"] == 3


def _counting_parts(monkeypatch):
    import features.landmarks as landmarks

    calls, real = [], landmarks._asof_rows
    monkeypatch.setattr(
        landmarks, "_asof_rows", lambda *args: calls.append(len(args[0])) or real(*args)
    )
    return calls


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
def test_a_caseload_worked_in_parts_gives_the_rows_of_one_pass(cohort, config, order, monkeypatch):
    clients, sessions = cohort
    if order == "shuffled":  # neither table by client: each part's rows picked, not sliced
        clients = clients.sample(frac=1.0, random_state=1)
        sessions = sessions.sample(frac=1.0, random_state=2)
    as_of = sessions["session_date"].quantile(0.7).normalize()
    args = (clients, sessions, as_of, config.instruments, config.features)
    whole = asof_examples(*args, part_clients=len(clients))
    calls = _counting_parts(monkeypatch)
    parts = asof_examples(*args, part_clients=40)
    assert len(calls) >= 7 and max(calls) <= 40  # 300 clients in ranges of about 40
    pd.testing.assert_frame_equal(parts, whole)


def test_parts_follow_the_order_of_ids_and_skip_clients_with_nothing_yet(config, monkeypatch):
    ids = ["b", "B", "é", "a10", "a9"]  # one pass sorts them by code point
    clients = make_clients(*({"client_id": i} for i in ids))
    sessions = pd.concat(
        [make_sessions(i, "2026-01-12", ["attended", "no_show"]) for i in ids if i != "a9"]
        + [make_sessions("a9", "2026-03-02", ["attended"])]  # after the date: no row
    )
    args = (clients, sessions, pd.Timestamp("2026-01-31"), config.instruments, config.features)
    calls = _counting_parts(monkeypatch)
    rows = asof_examples(*args, part_clients=1)
    assert calls == [1] * 5
    assert list(rows["client_id"]) == ["B", "a10", "b", "é"]
    pd.testing.assert_frame_equal(rows, asof_examples(*args))


def test_model_inputs_have_declared_columns_and_types(cohort, config):
    clients, sessions = cohort
    X = model_inputs(landmark_examples(clients, sessions, config.instruments, config.features))
    assert list(X.columns) == list(MODEL_INPUTS)
    assert not set(HISTORY_FEATURES) & set(X.columns)  # the model adds those itself
    assert not pd.api.types.is_numeric_dtype(X["site"]) and X["no_shows"].dtype == float


def test_describing_only_some_appointments_gives_the_same_rows(cohort, config):
    from features.landmarks import appointment_prefix

    clients, sessions = cohort
    args = (clients, sessions, config.instruments, config.features)
    every = appointment_prefix(*args)
    last = appointment_prefix(*args, at="last")
    expected_last = every.groupby("client_id", sort=False).tail(1)
    pd.testing.assert_frame_equal(last, expected_last)
    chosen = appointment_prefix(*args, at=[2, 5])
    pd.testing.assert_frame_equal(chosen, every[every["appointments"].isin([2, 5])])
    assert set(chosen["appointments"]) == {2.0, 5.0}


def test_unknown_choice_of_appointments_is_refused(cohort, config):
    from features.landmarks import appointment_prefix

    clients, sessions = cohort
    with pytest.raises(ValueError, match="'first'"):
        appointment_prefix(clients, sessions, config.instruments, config.features, at="first")


# ----------------------------------------------------------------- training examples


def _training(clients, sessions, config, export=None):
    from features.labels import episode_endings
    from features.landmarks import training_examples

    export = sessions["session_date"].max() if export is None else pd.Timestamp(export)
    last = sessions.groupby("client_id")["session_date"].max()
    endings = episode_endings(clients, last_seen=last)
    return training_examples(
        clients, sessions, endings, export, config.instruments, config.features
    )


def test_a_snapshot_is_the_row_score_builds_as_of_its_date(cohort, config):
    clients, sessions = cohort
    ex = _training(clients, sessions, config)
    snaps = ex[ex["example_kind"].eq("snapshot")].sample(25, random_state=3)
    assert len(snaps) == 25
    for _, snap in snaps.iterrows():
        mine = clients[clients["client_id"].eq(snap["client_id"])]
        theirs = sessions[sessions["client_id"].eq(snap["client_id"])]
        asof = asof_examples(mine, theirs, snap["cutoff_date"], config.instruments, config.features)
        cols = [c for c in asof.columns if c != "landmark"]
        pd.testing.assert_frame_equal(
            asof[cols].reset_index(drop=True),
            ex.loc[[snap.name], cols].reset_index(drop=True),
            check_dtype=False,
        )


def test_snapshots_fall_on_one_calendar_while_the_episode_is_open(config):
    clients = make_clients(
        {"client_id": "C1", "intake_date": "2026-01-05", "discharge_date": "2026-02-20",
         "discharge_reason": "completed"},
        {"client_id": "C2", "intake_date": "2026-01-05"},
    )  # fmt: skip
    sessions = pd.concat(
        [
            make_sessions("C1", "2026-01-12", ["attended"] * 6),
            make_sessions("C2", "2026-01-12", ["attended", "no_show", "attended"] * 3),
        ]
    )
    features = config.features.model_copy(update={"snapshot_days": 14})
    cfg = config.model_copy(update={"features": features})
    ex = _training(clients, sessions, cfg, export="2026-03-09")
    snaps = ex[ex["example_kind"].eq("snapshot")]
    dates = snaps.groupby("client_id")["cutoff_date"].apply(list)
    # every 14 days back from the export; C1 only before its discharge, both from their
    # first appointment on
    assert [f"{d:%m-%d}" for d in dates["C1"]] == ["01-12", "01-26", "02-09"]
    assert [f"{d:%m-%d}" for d in dates["C2"]] == ["01-12", "01-26", "02-09", "02-23", "03-09"]
    # days since the last attended session counted up to the snapshot date, as score does
    c2 = snaps[snaps["client_id"].eq("C2")].set_index("cutoff_date")
    # (02-09 is a no-show; the last attended session was 02-02)
    assert c2.loc[pd.Timestamp("2026-02-09"), "days_since_last_attended"] == 7
    c1 = ex[ex["client_id"].eq("C1")]
    assert (c1["outcome"] == 0).all() and c1["event_days"].notna().all()
    # the open episode is kept, censored: no outcome, no end, followed up to the export
    assert c2["outcome"].isna().all() and c2["event_days"].isna().all()
    assert c2["follow_up_days"].tolist() == [56.0, 42.0, 28.0, 14.0, 0.0]


def test_later_records_never_change_an_earlier_example(cohort, config):
    clients, sessions = cohort
    cut = sessions["session_date"].quantile(0.6)
    # the export as it stood at the cut: later appointments and discharges unknown
    then_clients = clients[clients["intake_date"] <= cut].copy()
    closed_later = then_clients["discharge_date"] > cut
    then_clients.loc[closed_later, ["discharge_date", "discharge_reason"]] = [pd.NaT, pd.NA]
    then = _training(then_clients, sessions[sessions["session_date"] <= cut], config, export=cut)
    now = _training(clients, sessions, config, export=sessions["session_date"].max())
    key = ["client_id", "cutoff_date", "example_kind"]
    # snapshot grids differ by the export date; landmark examples share their moments
    both = then[then["example_kind"].eq("landmark")].merge(
        now[now["example_kind"].eq("landmark")], on=key, suffixes=("_then", "_now")
    )
    assert len(both) > 100
    for name in ROW_FEATURES:
        a, b = both[f"{name}_then"], both[f"{name}_now"]
        if not pd.api.types.is_numeric_dtype(a):
            assert (a.fillna("") == b.fillna("")).all(), name
        else:
            np.testing.assert_allclose(a.astype(float), b.astype(float), err_msg=name)


def test_no_appointment_at_all_gives_no_example(config):
    clients = make_clients({"client_id": "C1"})
    sessions = make_sessions("C1", "2026-01-12", [])
    ex = _training(clients, sessions, config, export="2026-03-01")
    assert ex.empty and {"outcome", "event_days", "follow_up_days"} <= set(ex.columns)


@pytest.mark.parametrize("with_row", [True, False], ids=["row numbers", "no row numbers"])
def test_appointments_in_any_order_give_the_rows_sorted_ones_give(cohort, config, with_row):
    from features.landmarks import appointment_prefix

    clients, sessions = cohort
    sessions = sessions if with_row else sessions.drop(columns="row")
    # two appointments of one client on one date: their input order decides
    twin = sessions.iloc[[3]].assign(status="no_show")
    if with_row:
        twin = twin.assign(row=len(sessions) + 1)
    sessions = pd.concat([sessions, twin], ignore_index=True)

    def prefix(frame):
        return appointment_prefix(
            clients, frame, config.instruments, config.features, keep_ratings=True
        ).reset_index(drop=True)

    shuffled = sessions.sample(frac=1.0, random_state=3)
    got = prefix(shuffled)
    if with_row:  # the twins in the order of their rows
        expected = prefix(sessions)
    else:  # without row numbers, the twins keep the order they come in
        expected = prefix(shuffled.sort_values(["client_id", "session_date"], kind="stable"))
    pd.testing.assert_frame_equal(got, expected)
    assert got["status"].isin(["no_show"]).any()
