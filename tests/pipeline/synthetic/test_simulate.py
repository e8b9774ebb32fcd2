"""Tests of the per-episode simulation state: what is copied at the export."""

from __future__ import annotations

import numpy as np

from pipeline.synthetic import PROFILES
from pipeline.synthetic.export import build_cohort
from tests.pipeline.synthetic.common import EXTRACTION


def test_export_state_is_each_episodes_own(instruments):
    # The state copied at the export knows each open episode's own appointment index:
    # one appointment per step, so it equals the appointments the export shows, and the
    # next appointment is booked after the extraction date.
    cohort = build_cohort(
        1200, 21, instruments, EXTRACTION, None, PROFILES["fortnightly_sud"], snapshot=True
    )
    snap = cohort.snapshot
    assert snap.index.size and np.unique(snap.index).size == snap.index.size
    ids = cohort.client_ids[snap.index]
    shown = cohort.sessions.groupby("client_id").size().reindex(ids).fillna(0).to_numpy()
    np.testing.assert_array_equal(snap.episodes.appt, shown)
    assert np.unique(snap.episodes.appt).size > 5  # episodes are at different points
    assert (snap.episodes.booked_day > 0).all()
    assert (snap.episodes.last_day <= 0).all()
    assert snap.episodes.alive.all()
