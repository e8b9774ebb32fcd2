"""Attendance: which appointments have a status, read alike from text and categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.attendance import status_in

STATUSES = ["attended", "no_show", None, "late_cancel", "attended", "cancelled"]


@pytest.mark.parametrize("kind", ["text", "objects", "categories"])
def test_status_in_is_the_same_for_text_objects_and_categories(kind):
    values = {
        "text": pd.Series(STATUSES, dtype="str"),
        "objects": pd.Series(STATUSES, dtype=object),
        "categories": pd.Series(pd.Categorical(STATUSES)),
    }[kind]
    np.testing.assert_array_equal(
        status_in(values, ("attended",)), [True, False, False, False, True, False]
    )
    np.testing.assert_array_equal(
        status_in(values, ("no_show", "late_cancel")), [False, True, False, True, False, False]
    )
    # a status no appointment has (not among the categories): nowhere, missing included
    assert not status_in(values, ("rescheduled",)).any()
