"""Turning the raw cells of an input table into typed values: text, dates and numbers.

Values are parsed once per column, and on the column's distinct values only (which makes
a million-row sessions table cheap); the rules and the clean frames share the results
through one :class:`ParsedColumns` per table. Parsing never rejects anything itself: it
says which cells could not be read, and the rules turn that into problems.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.ids import factorize_text, is_arrow_text

# the cache key of what every absent column reads as (no column name can equal it)
_ABSENT = object()
# up to this many distinct values, text and dates are read in plain Python (_few_texts,
# _few_dates); more go to pandas
FEW_VALUES = 256
# from this many rows on, a table's text columns are factorized two at a time
# (:meth:`ParsedColumns.factorize_text_columns`)
MANY_ROWS = 50_000
# Dates outside these years are typos (and would not fit pandas' nanosecond timestamps).
PLAUSIBLE_YEARS = (1900, 2199)
# YYYY-MM-DD, optionally followed by an ISO 8601 time of day and zone (both ignored).
_ISO_DATE = (
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
# the same on ASCII text (_few_dates leaves any other text to pandas)
_ISO_DATE_ASCII = re.compile(_ISO_DATE, re.ASCII)


@dataclass(frozen=True)
class ParsedDates:
    """One date column, parsed.

    Attributes
    ----------
    values
        datetime64[ns], normalised to the date; NaT when blank or invalid.
    unparseable
        Present but not a YYYY-MM-DD calendar date.
    implausible
        A real date outside :data:`PLAUSIBLE_YEARS`.
    """

    values: pd.Series
    unparseable: pd.Series
    implausible: pd.Series


@dataclass(frozen=True)
class ParsedNumbers:
    """One numeric column, parsed.

    Attributes
    ----------
    values
        float64; NaN when blank or not a number.
    not_numeric
        Present but not a finite number.
    """

    values: pd.Series
    not_numeric: pd.Series


class ParsedColumns:
    """One raw table, each column parsed at most once; shared by the rules and the output.

    Work happens on a column's distinct values (``pd.factorize``) and is spread back to
    the rows: sessions repeat the same dates, statuses and ratings many times, and this
    is what keeps a million rows within a few seconds. A column the table lacks reads as
    blank on every row.

    Parameters
    ----------
    frame
        The table as read (text, or typed values from Parquet), with a default index.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.index = frame.index
        self._cache: dict[tuple[str, str], object] = {}

    def has(self, column: str) -> bool:
        """Whether the table has ``column``."""
        return column in self.frame.columns

    def _memo(self, kind: str, column: str | object, build: Callable[[], object]):
        key = (kind, column)
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def factorize_text_columns(self, workers: int = 2) -> None:
        """Factorize every Arrow-text column now, ``workers`` at a time, for a table of
        :data:`MANY_ROWS` rows or more (a smaller one is left to :meth:`distinct`).

        Arrow hashes outside Python's lock, so two columns take little more than one: on
        the 1.1-million-row sessions of 200,000 clients, 0.26-0.32 s for the 25 columns
        where one at a time took 0.51-0.54 s. The results are what :meth:`distinct` gives.
        """
        if len(self.index) < MANY_ROWS:
            return
        from concurrent.futures import ThreadPoolExecutor

        columns = [
            column
            for column in self.frame.columns
            if ("distinct", column) not in self._cache and is_arrow_text(self.frame[column])
        ]
        with ThreadPoolExecutor(workers, thread_name_prefix="factorize") as pool:
            found = list(pool.map(lambda column: DistinctValues.of(self.frame[column]), columns))
        for column, distinct in zip(columns, found, strict=True):
            self._cache[("distinct", column)] = distinct

    def raw(self, column: str) -> pd.Series:
        """The column as read; all missing when the table lacks it."""
        if column in self.frame.columns:
            return self.frame[column]
        return pd.Series(np.full(len(self.index), np.nan), index=self.index)

    def distinct(self, column: str) -> DistinctValues:
        """Row codes into the column's distinct values, those as stripped text."""
        return self._memo("distinct", column, lambda: DistinctValues.of(self.raw(column)))

    def on_distinct(
        self, kind: str, column: str, compute: Callable[[pd.Series], np.ndarray], fill: object
    ) -> pd.Series:
        """``compute`` on the distinct values (stripped text), spread to the rows.

        Rows whose raw value is missing get ``fill``; ``kind`` names the result for reuse.
        """
        return self._memo(
            kind,
            column,
            lambda: self.distinct(column).spread(compute(self.distinct(column).text), fill),
        )

    def text(self, column: str) -> pd.Series:
        """Stripped text, missing when blank (pandas ``str`` dtype)."""
        return self._memo("text", column, lambda: self.distinct(column).spread_text())

    def lower(self, column: str) -> pd.Series:
        """Stripped, lower-cased text, missing when blank (pandas ``str`` dtype)."""
        return self._memo("lower", column, lambda: self.distinct(column).spread_text(lower=True))

    def blank(self, column: str) -> pd.Series:
        """True where the cell is missing or only whitespace."""
        return self.on_distinct("blank", column, lambda u: u.isna().to_numpy(dtype=bool), True)

    def date(self, column: str) -> ParsedDates:
        """The column as ISO 8601 dates (text) or as stored timestamps (Parquet)."""

        def build() -> ParsedDates:
            raw = self.raw(column)
            if pd.api.types.is_datetime64_any_dtype(raw):
                return _typed_dates(raw)
            distinct = self.distinct(column)
            parsed = _parse_dates(distinct.text)
            return ParsedDates(
                values=distinct.spread(parsed["values"], np.datetime64("NaT", "ns")),
                unparseable=distinct.spread(parsed["unparseable"], False),
                implausible=distinct.spread(parsed["implausible"], False),
            )

        return self._memo("date", column, build)

    def number(self, column: str) -> ParsedNumbers:
        """The column as float64 numbers (text parsed, stored numbers taken as they are).

        Every column the table lacks reads alike (all blank), so they share one result.
        """
        if not self.has(column):
            return self._memo("number", _ABSENT, lambda: self._parse_number(column))
        return self._memo("number", column, lambda: self._parse_number(column))

    def _parse_number(self, column: str) -> ParsedNumbers:
        raw = self.raw(column)
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            values = raw.to_numpy(dtype="float64", na_value=np.nan)
            finite = np.isfinite(values)
            return ParsedNumbers(
                values=pd.Series(np.where(finite, values, np.nan), index=self.index),
                not_numeric=pd.Series(~np.isnan(values) & ~finite, index=self.index),
            )
        distinct = self.distinct(column)
        numbers = pd.to_numeric(distinct.text, errors="coerce").to_numpy(dtype="float64")
        finite = np.isfinite(numbers)
        return ParsedNumbers(
            values=distinct.spread(np.where(finite, numbers, np.nan), np.nan),
            not_numeric=distinct.spread(distinct.text.notna().to_numpy(bool) & ~finite, False),
        )


@dataclass(frozen=True)
class DistinctValues:
    """A column's distinct values as stripped text, and which one each row holds.

    Attributes
    ----------
    codes
        Per row, the position of its value in ``text``; rows whose raw value is missing
        point one past the end, where :meth:`spread` puts the fill value.
    text
        The distinct raw values as stripped text, missing when blank.
    index
        The table's row index.
    """

    codes: np.ndarray
    text: pd.Series
    index: pd.Index

    @classmethod
    def of(cls, raw: pd.Series) -> DistinctValues:
        """Factorize one raw column."""
        factorized = factorize_text(raw)
        if factorized is None:
            factorized = pd.factorize(raw, use_na_sentinel=True)
        codes, uniques = factorized
        codes[codes < 0] = len(uniques)
        # a rating column has a few dozen distinct values: its codes fit in a byte, which
        # is what a million-row table keeps in memory per column while it is validated
        codes = codes.astype(np.min_scalar_type(len(uniques)), copy=False)
        text = _few_texts(uniques)
        if text is None:
            text = _as_text(pd.Series(uniques, dtype=raw.dtype))
        return cls(codes=codes, text=text, index=raw.index)

    def spread(self, values: np.ndarray, fill: object) -> pd.Series:
        """Per-distinct ``values`` to per-row; rows with a missing raw value get ``fill``."""
        values = np.asarray(values)
        if values.dtype == bool and fill is False and not values.any():
            # no distinct value flagged (a rule that nothing breaks): no rows to look up
            return pd.Series(np.zeros(len(self.codes), dtype=bool), index=self.index, copy=False)
        extended = np.append(values, np.array([fill], dtype=values.dtype))
        return pd.Series(extended.take(self.codes), index=self.index, copy=False)

    def spread_text(self, *, lower: bool = False) -> pd.Series:
        """The distinct text (lower-cased on request) spread to the rows."""
        text = self.text.str.lower() if lower else self.text
        text = pd.concat([text, pd.Series([None], dtype="str")], ignore_index=True)
        return pd.Series(text.array.take(self.codes), index=self.index, dtype="str")


def integers_when_whole(values: pd.Series) -> pd.Series:
    """Floats that are all whole numbers as nullable integers, anything else unchanged.

    Parquet stores an integer column with blanks as floats; the user wrote ``101``, not
    ``101.0``, and that is how ids are matched and values are quoted.
    """
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            return values.astype("Int64")
    return values


def _few_texts(uniques) -> pd.Series | None:
    """:func:`_as_text` of a few distinct values that are all text, in plain Python (the
    pandas steps cost more than the work on a served request's handful of values); None
    for anything else. Python's ``str.strip`` removes the same whitespace as pandas'."""
    if len(uniques) > FEW_VALUES:
        return None
    values = list(uniques)
    if not all(type(value) is str for value in values):
        return None
    return pd.Series([value.strip() or None for value in values], dtype="str")


def _as_text(series: pd.Series) -> pd.Series:
    text = integers_when_whole(series).astype("str").str.strip()
    return text.mask(text == "")


def _parse_dates(text: pd.Series) -> dict[str, np.ndarray]:
    """Parse ISO 8601 dates (``YYYY-MM-DD``, any time part ignored) from stripped text."""
    few = _few_dates(text)
    if few is not None:
        return few
    iso = text.str.fullmatch(_ISO_DATE).fillna(False).to_numpy(dtype=bool)
    # The time part (and any zone) is ignored: the date as written is the date.
    stamps = pd.to_datetime(text.str.slice(0, 10).where(iso), format="%Y-%m-%d", errors="coerce")
    plausible = stamps.dt.year.between(*PLAUSIBLE_YEARS).to_numpy(dtype=bool)
    return {
        "values": stamps.where(plausible).astype("datetime64[ns]").to_numpy(),
        "unparseable": text.notna().to_numpy(dtype=bool) & stamps.isna().to_numpy(dtype=bool),
        "implausible": stamps.notna().to_numpy(dtype=bool) & ~plausible,
    }


def _few_dates(text: pd.Series) -> dict[str, np.ndarray] | None:
    """:func:`_parse_dates` of a few values in plain Python, or None to leave it to pandas
    (many values, text other than ASCII, or a year outside :data:`PLAUSIBLE_YEARS`, whose
    reading by pandas depends on its timestamps' range)."""
    if len(text) > FEW_VALUES:
        return None
    n = len(text)
    values = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    unparseable = np.zeros(n, dtype=bool)
    for i, cell in enumerate(text.tolist()):
        if not isinstance(cell, str):
            continue  # blank
        if not cell.isascii():
            return None  # pandas reads other digits too (２０２６-03-14)
        if not _ISO_DATE_ASCII.fullmatch(cell):
            unparseable[i] = True
            continue
        year = int(cell[:4])
        if not PLAUSIBLE_YEARS[0] <= year <= PLAUSIBLE_YEARS[1]:
            return None
        try:
            day = datetime.date(year, int(cell[5:7]), int(cell[8:10]))
        except ValueError:  # not a calendar date (2026-02-30)
            unparseable[i] = True
            continue
        values[i] = np.datetime64(day, "ns")
    return {"values": values, "unparseable": unparseable, "implausible": np.zeros(n, dtype=bool)}


def _typed_dates(stamps: pd.Series) -> ParsedDates:
    """Dates stored as timestamps (Parquet): local calendar date, time dropped."""
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_localize(None)
    stamps = stamps.dt.normalize()
    plausible = stamps.dt.year.between(*PLAUSIBLE_YEARS)
    return ParsedDates(
        values=stamps.where(plausible).astype("datetime64[ns]"),
        unparseable=pd.Series(False, index=stamps.index),
        implausible=stamps.notna() & ~plausible,
    )
