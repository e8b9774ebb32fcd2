"""Reading ahead: the table read_table takes from the thread is the one it would read."""

from __future__ import annotations

import pandas as pd
import pytest

import pipeline.io.read_ahead as read_ahead
from configs.errors import InputError
from pipeline.io.ingest import read_table
from pipeline.io.read_ahead import ReadAhead


def _write(path, text: str):
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture
def reads(monkeypatch):
    """Every Arrow read of a file, by the thread or by read_table."""
    done, real = [], read_ahead.arrow_text_table

    def counting(path, header):
        done.append(path.name)
        return real(path, header)

    monkeypatch.setattr(read_ahead, "arrow_text_table", counting)
    monkeypatch.setattr("pipeline.io.ingest.arrow_text_table", counting)
    return done


def test_read_table_takes_the_table_read_ahead(tmp_path, reads):
    clients = _write(tmp_path / "clients.csv", '\ufeffclient_id,site\nC1,"north, east"\nC2,NA\n')
    sessions = _write(tmp_path / "sessions.csv", "client_id,status\nC1,attended\n\nC2, \n")
    expected = [read_table(clients, role="clients"), read_table(sessions, role="sessions")]
    reads.clear()
    with ReadAhead([clients, sessions]) as ahead:
        got = [
            read_table(p, role=r, ahead=ahead)
            for p, r in [(clients, "clients"), (sessions, "sessions")]
        ]
    assert reads == ["clients.csv", "sessions.csv"]  # each once: by the thread
    for frame, want in zip(got, expected, strict=True):
        pd.testing.assert_frame_equal(frame, want)


def test_a_file_changed_since_it_was_read_ahead_is_read_again(tmp_path, reads):
    path = _write(tmp_path / "clients.csv", "client_id,site\nC1,north\n")
    with ReadAhead([path]) as ahead:
        ahead._done[path].wait()
        _write(path, "client_id,program\nC1,outpatient\n")
        frame = read_table(path, role="clients", ahead=ahead)
    assert (
        list(frame.columns) == ["client_id", "program"] and frame.loc[0, "program"] == "outpatient"
    )
    assert reads == ["clients.csv", "clients.csv"]


def test_a_file_arrow_cannot_read_gets_read_tables_own_error(tmp_path):
    path = _write(
        tmp_path / "sessions.csv", "a,b\nA,2026-01-01\nsecret-id,2026-01-02,extra-value\n"
    )
    with ReadAhead([path]) as ahead, pytest.raises(InputError) as caught:
        read_table(path, role="sessions", ahead=ahead)
    assert "line 3" in str(caught.value) and "secret-id" not in str(caught.value)
    missing = tmp_path / "clients.csv"
    with ReadAhead([missing]) as ahead, pytest.raises(InputError, match="clients file not found"):
        read_table(missing, role="clients", ahead=ahead)


def test_only_csv_files_are_read_ahead_and_each_is_taken_once(tmp_path, reads):
    path = _write(tmp_path / "clients.csv", "client_id\nC1\n")
    parquet = tmp_path / "sessions.parquet"
    pd.DataFrame({"client_id": ["C1"]}).to_parquet(parquet)
    with ReadAhead([path, parquet]) as ahead:
        assert ahead.take(parquet, ["client_id"]) is None
        assert ahead.take(path, ["client_id"]).num_rows == 1
        assert ahead.take(path, ["client_id"]) is None  # not held after it is taken
        assert ahead.take(tmp_path / "other.csv", ["client_id"]) is None
    assert reads == ["clients.csv"]
