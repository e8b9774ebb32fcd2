"""Preprocessing steps of the candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.candidates import (
    ClipToSeenRange,
    FillNeverObserved,
    encoded_feature_sources,
    linear_preprocessor,
)


def test_clip_to_seen_range_saturates_and_keeps_missing():
    clip = ClipToSeenRange().fit(np.array([[0.0, np.nan], [6.0, np.nan], [np.nan, np.nan]]))
    out = clip.transform(np.array([[17.0, 3.0], [-1.0, np.nan], [np.nan, 1.0]]))
    np.testing.assert_array_equal(out[:, 0], [6.0, 0.0, np.nan])
    # a column never observed in training has no range: values pass through
    np.testing.assert_array_equal(out[:, 1], [3.0, np.nan, 1.0])


def test_fill_never_observed_only_touches_empty_columns():
    fill = FillNeverObserved().fit(np.array([[1.0, np.nan], [np.nan, np.nan]]))
    out = fill.transform(np.array([[np.nan, 5.0]]))
    assert np.isnan(out[0, 0]) and out[0, 1] == 0.0


def test_encoded_columns_trace_back_to_their_feature():
    X = pd.DataFrame({"no_shows": [0.0, 1.0, np.nan] * 25, "site": ["a", "b", None] * 25})
    pre = linear_preprocessor(numeric=("no_shows",), categorical=("site",)).fit(X)
    sources = encoded_feature_sources(pre)
    assert sorted(set(sources)) == ["no_shows", "site"]
    # value and missing indicator for no_shows; levels a, b and "not recorded" for site
    assert sources.count("no_shows") == 2 and sources.count("site") == 3


def test_rare_categories_are_pooled_and_their_names_are_not_kept():
    import numpy as np

    from models.candidates import MISSING_CATEGORY, RARE_CATEGORY, PoolRareCategories

    X = np.array([["court"] * 3 + ["self"] + ["not recorded"]], dtype=object).T
    pool = PoolRareCategories(min_count=3).fit(X)
    assert pool.kept_ == [sorted(["court", MISSING_CATEGORY])]
    out = pool.transform(
        np.array([["court"], ["self"], ["unseen"], ["not recorded"]], dtype=object)
    )
    assert out[:, 0].tolist() == ["court", RARE_CATEGORY, RARE_CATEGORY, "not recorded"]
    assert "self" not in repr(pool.__dict__)
