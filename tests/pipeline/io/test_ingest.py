"""Reading input files: every file-level problem is an InputError naming file and fix."""

from __future__ import annotations

import pandas as pd
import pytest

from configs.errors import InputError
from pipeline.io.ingest import read_table


def _write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_missing_file_names_file_and_option(tmp_path):
    path = tmp_path / "clients.csv"
    with pytest.raises(InputError, match=r"clients\.csv: clients file not found.*--clients"):
        read_table(path, role="clients")


def test_directory_is_not_a_file(tmp_path):
    folder = tmp_path / "sessions.csv"
    folder.mkdir()
    with pytest.raises(InputError, match="is not a file"):
        read_table(folder, role="sessions")


def test_zero_byte_file_is_empty(tmp_path):
    path = _write(tmp_path / "sessions.csv", "")
    with pytest.raises(InputError, match=r"sessions\.csv: the sessions file is empty"):
        read_table(path, role="sessions")


def test_blank_lines_only_is_empty(tmp_path):
    path = _write(tmp_path / "sessions.csv", "\ufeff\n\n  \n")
    with pytest.raises(InputError, match="empty \\(no header row\\)"):
        read_table(path, role="sessions")


def test_header_only_gives_no_rows(tmp_path):
    path = _write(tmp_path / "clients.csv", "client_id,therapist_id,intake_date\n")
    frame = read_table(path, role="clients")
    assert list(frame.columns) == ["client_id", "therapist_id", "intake_date"]
    assert len(frame) == 0


@pytest.mark.parametrize("suffix", [".xlsx", ".txt", ""])
def test_unsupported_extension(tmp_path, suffix):
    path = _write(tmp_path / f"clients{suffix}", "client_id\nC1\n")
    with pytest.raises(InputError, match=r"must be CSV \(\.csv\) or Parquet.*Fix: export"):
        read_table(path, role="clients")


@pytest.mark.parametrize(("delimiter", "label"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_wrong_delimiter_is_named_with_fix(tmp_path, delimiter, label):
    text = delimiter.join(["client_id", "therapist_id", "intake_date"]) + "\n"
    text += delimiter.join(["C1", "T1", "2026-01-05"]) + "\n"
    path = _write(tmp_path / "clients.csv", text)
    with pytest.raises(
        InputError, match=rf"looks delimited by {label}.*save it as comma-separated"
    ):
        read_table(path, role="clients")


def test_bom_and_header_case_and_spaces(tmp_path):
    path = _write(
        tmp_path / "clients.csv",
        " Client_ID , THERAPIST_ID,intake_date\nC1,T1,2026-01-05\n",
        encoding="utf-8-sig",
    )
    frame = read_table(path, role="clients")
    assert list(frame.columns) == ["client_id", "therapist_id", "intake_date"]
    assert frame.loc[0, "client_id"] == "C1"


def test_values_are_kept_as_written_text(tmp_path):
    path = _write(
        tmp_path / "clients.csv",
        "client_id,therapist_id,intake_date,age\n007,T1,2026-01-05,\n8,T2,03/14/2026, 41 \n",
    )
    frame = read_table(path, role="clients")
    assert frame["client_id"].tolist() == ["007", "8"]
    assert frame.loc[1, "intake_date"] == "03/14/2026"
    assert frame.loc[1, "age"] == " 41 "
    assert pd.isna(frame.loc[0, "age"])
    assert isinstance(frame.index, pd.RangeIndex)


def test_duplicate_column_names_after_lower_casing(tmp_path):
    path = _write(tmp_path / "clients.csv", "client_id,Client_ID\nC1,C2\n")
    with pytest.raises(InputError, match="'client_id' appears twice.*rename or remove"):
        read_table(path, role="clients")


def test_not_utf8(tmp_path):
    path = _write(tmp_path / "clients.csv", "client_id,site\nC1,Zürich\n", encoding="latin-1")
    with pytest.raises(InputError, match="not UTF-8 text.*CSV UTF-8"):
        read_table(path, role="clients")


def test_ragged_rows_cannot_be_parsed(tmp_path):
    path = _write(tmp_path / "clients.csv", "client_id,site\nC1,A\nC2,B,extra\n")
    with pytest.raises(InputError, match="cannot be parsed as CSV.*double quotes"):
        read_table(path, role="clients")


def test_parquet_round_trip_keeps_types(tmp_path):
    original = pd.DataFrame(
        {
            "Client_ID": ["C1", "C2"],
            "intake_date": pd.to_datetime(["2026-01-05", "2026-02-01"]),
            "age": [34, 51],
            "srs_total": [36.5, None],
        }
    )
    path = tmp_path / "clients.parquet"
    original.to_parquet(path)
    frame = read_table(path, role="clients")
    assert list(frame.columns) == ["client_id", "intake_date", "age", "srs_total"]
    assert pd.api.types.is_datetime64_any_dtype(frame["intake_date"])
    assert frame["age"].tolist() == [34, 51]
    assert pd.isna(frame.loc[1, "srs_total"])
    assert isinstance(frame.index, pd.RangeIndex)


def test_parquet_named_index_becomes_a_column(tmp_path):
    original = pd.DataFrame({"client_id": ["C1"], "site": ["A"]}).set_index("client_id")
    path = tmp_path / "clients.pq"
    original.to_parquet(path)
    frame = read_table(path, role="clients")
    assert frame.columns.tolist() == ["client_id", "site"]


def test_unreadable_parquet(tmp_path):
    path = _write(tmp_path / "sessions.parquet", "client_id,status\nC1,attended\n")
    with pytest.raises(
        InputError, match=r"sessions\.parquet: the sessions file is not a readable Parquet"
    ):
        read_table(path, role="sessions")


TRICKY_CSV = {
    "bom and blank lines": "\ufeffclient_id,Intake_Date\n\nA,2026-01-02\n\n\nB,\n",
    "null markers": 'a,b,c\nNA,null,N/A\n"",x, \nNaN,None,<NA>\n',
    "quotes, commas and line breaks": 'a,b\n"x, y","line one\nline two"\n"say ""hi""",z\n',
    "spaces kept": "a,b\n  padded  , tail \n",
    "only commas": "a,b,c\n,,\n1,2,3\n",
    "header only": "a,b\n",
    "numbers as text": "a,b\n007,1e3\n-0,4.50\n",
    "carriage returns": "a,b\r\n1,2\r\n3,4\r\n",
    "unicode": "name,site\nJosé,Zürich\n中文,\n",
}


@pytest.mark.parametrize("text", TRICKY_CSV.values(), ids=TRICKY_CSV.keys())
def test_the_fast_reader_gives_what_pandas_gives(tmp_path, text):
    from pipeline.io.ingest import _csv_header, _read_csv_fast, _read_csv_pandas

    path = _write(tmp_path / "t.csv", text)
    fast = _read_csv_fast(path, _csv_header(path, "clients"))
    assert fast is not None
    pd.testing.assert_frame_equal(fast, _read_csv_pandas(path, "clients"))


@pytest.mark.parametrize(
    "text",
    ["a,b\n1,2,3\n", "a,b,c\n1,2\n"],
    ids=["too many fields", "too few fields"],
)
def test_rows_the_fast_reader_refuses_are_left_to_pandas(tmp_path, text):
    from pipeline.io.ingest import _csv_header, _read_csv_fast

    path = _write(tmp_path / "t.csv", text)
    assert _read_csv_fast(path, _csv_header(path, "clients")) is None


def test_a_ragged_row_is_reported_without_its_values(tmp_path):
    text = "a,b\nA,2026-01-01\nsecret-id,2026-01-02,extra-value\n"
    path = _write(tmp_path / "sessions.csv", text)
    with pytest.raises(InputError) as caught:
        read_table(path, role="sessions")
    assert "line 3" in str(caught.value)
    assert "secret-id" not in str(caught.value) and "extra-value" not in str(caught.value)
