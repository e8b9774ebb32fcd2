"""Membership of client ids, fast on the Arrow-backed text pandas reads exports into.

``Series.isin`` on Arrow-backed strings turns every value into a Python object first (a
second for a million appointments); Arrow's own hash set answers in a few hundredths.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def among(values: pd.Series, ids: Any) -> np.ndarray:
    """``values.isin(ids)`` as a boolean array (a missing value is never among them)."""
    fast = _arrow_among(values, ids)
    if fast is not None:
        return fast
    lookup = pd.Index(pd.unique(np.asarray(ids, dtype=object)))
    found = lookup.get_indexer(values.to_numpy(dtype=object)) >= 0
    return found & ~pd.isna(values.to_numpy(dtype=object))


def _arrow_among(values: pd.Series, ids: Any) -> np.ndarray | None:
    """The answer by Arrow's ``is_in``, or None when ``values`` are not Arrow text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not hasattr(values.array, "__arrow_array__"):
        return None
    try:
        column = pa.chunked_array(values.array.__arrow_array__())
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            return None
        wanted = pa.array(np.asarray(ids, dtype=object), type=column.type)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    found = pc.is_in(column, value_set=wanted, skip_nulls=True)
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


def rows_of(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """``frame[keep]``, without copying every column when every row is kept.

    pandas copies the whole frame for a mask that keeps everything, which is what a
    caseload's filters nearly always are; the frame returned then shares the columns
    (copy on write: changing it never changes ``frame``).
    """
    keep = np.asarray(keep, dtype=bool)
    if len(keep) == len(frame) and keep.all():
        return frame.copy(deep=False)
    return frame[keep]


def run_codes(values: pd.Series) -> np.ndarray:
    """0, 1, 2, ... numbering the runs of equal values (a new number where the value changes).

    On Arrow text the comparison of neighbours is Arrow's; other values are compared as
    Python objects.
    """
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    column = _arrow_text(values)
    if column is not None:
        import pyarrow.compute as pc

        changed = pc.not_equal(column.slice(1), column.slice(0, n - 1))
        changed = pc.fill_null(changed, True).to_numpy(zero_copy_only=False)
    else:
        ids = values.to_numpy(dtype=object)
        changed = ids[1:] != ids[:-1]
    return np.cumsum(np.r_[False, np.asarray(changed, dtype=bool)]).astype(np.int64)


def nondecreasing_text(values: pd.Series) -> bool | None:
    """Whether Arrow text never decreases from one row to the next (by code point, the
    order Python and pandas sort text in), or None when ``values`` are not Arrow text."""
    column = _arrow_text(values)
    if column is None:
        return None
    if len(column) < 2 or column.null_count:
        return None if column.null_count else True
    import pyarrow.compute as pc

    return bool(pc.all(pc.less_equal(column.slice(0, len(column) - 1), column.slice(1))).as_py())


def factorize_text(values: pd.Series) -> tuple[np.ndarray, pd.Series] | None:
    """``pandas.factorize`` of Arrow text done by Arrow, or None when it is not Arrow text.

    The same codes (each distinct value numbered in order of first appearance, -1 where
    missing) and the distinct values as text; on a 1.1-million-row caseload's rating
    columns, 16 ms a column where pandas took about 26.
    """
    column = _arrow_text(values)
    if column is None:
        return None
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False, writable=True)
    return codes, pd.Series(pd.array(encoded.dictionary, dtype="str"))


def text_bounds(values: pd.Series, size: int) -> list[str] | None:
    """Values cutting Arrow text into ranges of about ``size`` rows each, in sorted order.

    Every ``size``-th value of the sorted text, repeats dropped: the ranges
    ``[bound k, bound k+1)`` (:func:`range_numbers`) follow one another in the order
    pandas sorts the text in (by code point), and equal values share a range. None when
    the values are not Arrow text or one is missing; an empty list for ``size`` rows or
    fewer.
    """
    column = _arrow_text(values)
    if column is None or column.null_count or size < 1:
        return None
    if len(column) <= size:
        return []
    import pyarrow.compute as pc

    ordered = column.take(pc.array_sort_indices(column))
    cuts = ordered.take(np.arange(size, len(column), size)).to_pylist()
    return sorted(set(cuts) - {ordered[0].as_py()})


def range_numbers(values: pd.Series, bounds: list[str]) -> np.ndarray | None:
    """For each value, the number of ``bounds`` at or below it: which range it is in.

    None when the values are not Arrow text or one is missing.
    """
    column = _arrow_text(values)
    if column is None or column.null_count:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    numbers = np.zeros(len(column), dtype=np.int32)
    for bound in bounds:
        above = pc.greater_equal(column, pa.scalar(bound, type=column.type))
        numbers += above.to_numpy(zero_copy_only=False)
    return numbers


def is_arrow_text(values: pd.Series) -> bool:
    """Whether the values are Arrow text (what :func:`factorize_text` works on)."""
    import pyarrow as pa

    if not hasattr(values.array, "__arrow_array__"):
        return False
    kind = values.array.__arrow_array__().type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _arrow_text(values: pd.Series):
    """The values as one Arrow text array, or None when they are not Arrow text."""
    if not is_arrow_text(values):
        return None
    import pyarrow as pa

    return pa.chunked_array(values.array.__arrow_array__()).combine_chunks()
