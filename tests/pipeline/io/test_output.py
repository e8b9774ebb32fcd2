"""Atomic writes: whole files or nothing, with ordinary permissions."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from configs.errors import InputError
from pipeline.io.output import atomic_write, write_csv, write_table, write_text


def test_written_files_get_the_permissions_of_a_plain_write(tmp_path):
    umask = os.umask(0o022)
    try:
        path = write_text("hello", tmp_path / "a.txt")
    finally:
        os.umask(umask)
    assert path.read_text() == "hello"
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text("old", tmp_path / "a.txt")

    def boom(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, boom)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_booleans_are_written_as_the_contract_spells_them(tmp_path):
    path = write_table(pd.DataFrame({"scored": [True, False]}), tmp_path / "r.csv")
    assert path.read_text().splitlines() == ["scored", "true", "false"]


def test_unknown_extension_is_an_input_error_with_the_fix(tmp_path):
    with pytest.raises(InputError, match=r"\.xlsx.*Fix: end the file name in \.csv or \.parquet"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "r.xlsx")


def test_write_csv_writes_the_frame_as_pandas_spells_it(tmp_path):
    frame = pd.DataFrame({"id": ["a", "b"], "flag": [True, False], "p": [0.25, None]})
    umask = os.umask(0o022)
    try:
        path = write_csv(frame, tmp_path / "nested" / "t.csv")
    finally:
        os.umask(umask)
    assert path == tmp_path / "nested" / "t.csv"
    assert path.read_bytes() == frame.to_csv(index=False).encode("utf-8")
    assert path.read_text().splitlines()[1] == "a,True,0.25"
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["t.csv"]


HOSTILE = {
    "therapist_id": '=HYPERLINK("http://x","click")',
    "site": "+cmd|'/c calc'!A0",
    "client_id": "@SUM(1+1)",
}


@pytest.mark.parametrize("write", [write_table, write_csv])
def test_cells_a_spreadsheet_would_run_are_written_as_text(tmp_path, write):
    frame = pd.DataFrame(
        {
            **{k: [v, "plain"] for k, v in HOSTILE.items()},
            "reason_1": ["-3 points", "\tTabbed"],
            "note": ["\rcarriage", "fine = ok"],
            "risk_change": [-0.1234, 0.05],
        }
    )
    path = write(frame, tmp_path / "r.csv")
    read = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert read.loc[0, "therapist_id"] == "'" + HOSTILE["therapist_id"]
    assert read.loc[0, "site"] == "'" + HOSTILE["site"]
    assert read.loc[0, "client_id"] == "'" + HOSTILE["client_id"]
    assert read.loc[0, "reason_1"] == "'-3 points"
    assert read.loc[1, "reason_1"] == "'\tTabbed"
    assert read.loc[0, "note"] == "'\rcarriage"
    # ordinary text and numbers, negative ones included, are as they were
    assert read.loc[1, "therapist_id"] == "plain" and read.loc[1, "note"] == "fine = ok"
    assert read["risk_change"].tolist() == ["-0.1234", "0.05"]
    # the frame that was written is not changed
    assert frame.loc[0, "client_id"] == HOSTILE["client_id"]


def test_parquet_keeps_the_raw_values(tmp_path):
    frame = pd.DataFrame({k: [v] for k, v in HOSTILE.items()})
    path = write_table(frame, tmp_path / "r.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame)


def _awkward(n: int = 7) -> pd.DataFrame:
    """Cells pandas' writer quotes, spells or leaves out in its own way, repeated to n rows."""
    text = ['say "hi"', "a,b", "two\nlines", "", None, "ünï ✓", " spaced "]
    floats = [-0.0, 1e-05, 1e16, float("inf"), float("nan"), 0.1 + 0.2, 0.0, 12.0]
    return pd.DataFrame(
        {
            "text": pd.array((text * n)[:n], dtype="str"),
            "objects": pd.Series((text * n)[:n], dtype=object),
            "floats": (floats * n)[:n],
            "ints": pd.Series(([-3, 0, 7, 10**12, 1, 2, 3] * n)[:n], dtype="int64"),
            "flags": ([True, False, True, True, False, False, True] * n)[:n],
            'a "quoted", name': "x",
        }
    )


def test_csv_is_written_byte_for_byte_as_pandas_writes_it(tmp_path, monkeypatch):
    import pipeline.io.output as output

    # several chunks of rows, the last one short
    monkeypatch.setattr(output, "CSV_CHUNK_ROWS", 3)
    frame = _awkward(8)
    assert output._csv_lines(frame, "\n") is not None  # written by the fast path
    path = write_csv(frame, tmp_path / "t.csv")
    assert path.read_bytes() == frame.to_csv(index=False).encode("utf-8")
    # a carriage return in a cell: lines end in \r\n, and the cell is quoted
    frame.loc[2, "objects"] = "back\rto start"
    path = write_csv(frame, tmp_path / "t.csv")
    assert path.read_bytes() == frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
    # with no rows, only the header
    empty = frame.iloc[:0]
    assert write_csv(empty, tmp_path / "e.csv").read_bytes() == empty.to_csv(index=False).encode()


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"only": ["", "a"]}),  # one column: csv quotes its empty cell
        pd.DataFrame({"when": pd.to_datetime(["2026-01-02", None]), "x": [1, 2]}),
        pd.DataFrame({"mixed": ["a", 1.5], "x": [1, 2]}, dtype=object),
        pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "x": [1, 2]}),
        pd.DataFrame({0: ["a"], 1: ["b"]}),
    ],
    ids=["one column", "dates", "mixed objects", "nullable ints", "number names"],
)
def test_csv_of_other_frames_is_left_to_pandas(tmp_path, frame):
    import pipeline.io.output as output

    assert output._csv_lines(frame, "\n") is None
    path = write_csv(frame, tmp_path / "t.csv")
    assert path.read_bytes() == frame.to_csv(index=False).encode("utf-8")
