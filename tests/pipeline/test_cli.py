"""The `dropout-risk` command line: the contract's commands and exit statuses 0/1/2/3.

The console writes to stderr; Click's runner keeps stderr apart (``result.stderr``) and
also interleaves it into ``result.output``. Messages are compared with whitespace
collapsed, because the console wraps long lines.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


def _text(result) -> str:
    """Everything the command printed (stdout and stderr), whitespace collapsed."""
    return " ".join(result.output.split())


def _invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def _write(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows, dtype="str").to_csv(path, index=False)
    return path


def _client(client_id: str, **values: str) -> dict:
    return {
        "client_id": client_id,
        "therapist_id": "T1",
        "intake_date": "2026-01-05",
        "age": "30",
    } | values


def _session(client_id: str, date: str, status: str = "attended") -> dict:
    return {"client_id": client_id, "session_date": date, "status": status}


@pytest.fixture
def clean(tmp_path):
    clients = _write(tmp_path / "clients.csv", [_client("A"), _client("B")])
    sessions = _write(
        tmp_path / "sessions.csv",
        [
            _session("A", "2026-01-05"),
            _session("A", "2026-01-12", "no_show"),
            _session("B", "2026-01-12"),
        ],
    )
    return clients, sessions


@pytest.fixture
def one_bad_row(tmp_path):
    clients = _write(tmp_path / "clients.csv", [_client("A"), _client("OLD", age="240")])
    sessions = _write(
        tmp_path / "sessions.csv", [_session("A", "2026-01-05"), _session("OLD", "2026-01-05")]
    )
    return clients, sessions


# ---------------------------------------------------------------- help and synth


def test_help_lists_the_commands():
    result = _invoke("--help")
    assert result.exit_code == 0, result.output
    for command in ("synth", "validate", "train", "score", "demo"):
        assert command in result.output


def test_no_arguments_shows_help_and_exits_2():
    result = _invoke()
    # a usage error (Click's convention, and the contract's "cannot be used at all")
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.output
    assert "synth" in result.output and "score" in result.output


def test_synth_writes_both_files(tmp_path):
    out = tmp_path / "cohort"
    result = _invoke("synth", "--out", out, "--n-clients", "50", "--seed", "1")
    assert result.exit_code == 0, result.output
    clients = pd.read_csv(out / "clients.csv")
    assert len(clients) == 50
    assert (out / "sessions.csv").stat().st_size > 0
    assert "50 clients, seed 1" in _text(result)


def test_synth_is_repeatable(tmp_path):
    for name in ("one", "two"):
        assert (
            _invoke("synth", "--out", tmp_path / name, "--n-clients", "20", "--seed", "7").exit_code
            == 0
        )
    for file in ("clients.csv", "sessions.csv"):
        assert (tmp_path / "one" / file).read_bytes() == (tmp_path / "two" / file).read_bytes()


def test_synth_rejects_zero_clients(tmp_path):
    result = _invoke("synth", "--out", tmp_path, "--n-clients", "0")
    assert result.exit_code == 2
    assert not (tmp_path / "clients.csv").exists()


# ---------------------------------------------------------------- validate


def test_validate_clean_synthetic_files(tmp_path):
    out = tmp_path / "cohort"
    assert _invoke("synth", "--out", out, "--n-clients", "50", "--seed", "1").exit_code == 0
    result = _invoke(
        "validate", "--clients", out / "clients.csv", "--sessions", out / "sessions.csv"
    )
    assert result.exit_code == 0, result.output
    assert "ok: 50 client rows" in _text(result)
    assert "no problems" in _text(result)


def test_validate_missing_required_column_exits_2(tmp_path, clean):
    clients = _write(
        tmp_path / "no_therapist.csv", [{"client_id": "A", "intake_date": "2026-01-05"}]
    )
    result = _invoke("validate", "--clients", clients, "--sessions", clean[1])
    assert result.exit_code == 2, result.output
    text = _text(result)
    assert "no_therapist.csv: missing required column therapist_id" in text
    assert "Fix:" in text
    assert "error:" in result.stderr


def test_validate_missing_file_exits_2_naming_the_path(tmp_path, clean):
    missing = tmp_path / "nowhere" / "clients.csv"
    result = _invoke("validate", "--clients", missing, "--sessions", clean[1])
    assert result.exit_code == 2, result.output
    assert f"{missing}: clients file not found" in _text(result)
    assert "--clients" in _text(result)


def test_message_quotes_a_path_with_brackets_as_written(tmp_path, clean):
    """File names are printed as text, not read as console markup."""
    missing = tmp_path / "clients [final].csv"
    result = _invoke("validate", "--clients", missing, "--sessions", clean[1])
    assert result.exit_code == 2, result.output
    assert "clients [final].csv: clients file not found" in _text(result)


def test_validate_bad_row_exits_3_with_its_reason(one_bad_row):
    result = _invoke("validate", "--clients", one_bad_row[0], "--sessions", one_bad_row[1])
    assert result.exit_code == 3, result.output
    text = _text(result)
    assert "age 240 out of range" in text
    assert "1 problems found in the inputs" in text


def test_validate_writes_every_problem_when_asked(tmp_path, clean):
    rows = [_client("A")] + [_client(f"B{i}", age="240") for i in range(205)]
    clients = _write(tmp_path / "clients.csv", rows)
    problems = tmp_path / "problems.csv"
    result = _invoke(
        "validate", "--clients", clients, "--sessions", clean[1], "--problems", problems
    )
    assert result.exit_code == 3, result.output
    written = pd.read_csv(problems, dtype=str, keep_default_na=False)
    assert list(written.columns) == ["file", "row", "column", "value", "reason"]
    # the screen shows 200; the file holds every one (the 205 ages among them)
    assert f"{len(written)} problems found" in _text(result)
    assert f"... and {len(written) - 200} more" in _text(result)
    ages = written[written["column"] == "age"]
    assert len(ages) == 205 and set(ages["value"]) == {"240"}
    # without the option the screen says how to get them all
    result = _invoke("validate", "--clients", clients, "--sessions", clean[1])
    assert "--problems F.csv writes them all" in _text(result)


def test_validate_refuses_an_unknown_problems_format_before_reading(tmp_path, clean):
    result = _invoke(
        "validate", "--clients", clean[0], "--sessions", clean[1], "--problems", tmp_path / "p.txt"
    )
    assert result.exit_code == 2, result.output
    assert "p.txt: unknown format. Fix: end --problems in .csv or .parquet." in _text(result)
    assert not (tmp_path / "p.txt").exists()


def test_validate_prints_a_bad_value_with_brackets_as_written(tmp_path, clean):
    clients = _write(tmp_path / "clients.csv", [_client("A"), _client("B", age="[/b]")])
    result = _invoke("validate", "--clients", clients, "--sessions", clean[1])
    assert result.exit_code == 3, result.output
    assert "[/b]" in result.output


def test_validate_notes_extra_columns(tmp_path, clean):
    clients = _write(tmp_path / "clients.csv", [_client("A", favourite_colour="blue")])
    result = _invoke(
        "validate",
        "--clients",
        clients,
        "--sessions",
        _write(tmp_path / "s.csv", [_session("A", "2026-01-05")]),
    )
    assert result.exit_code == 0, result.output
    assert "ignored extra columns favourite_colour" in _text(result)


# ---------------------------------------------------------------- score


def test_score_without_a_model_exits_2_with_the_fix(tmp_path, monkeypatch, clean):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "risk.csv"
    result = _invoke("score", "--clients", clean[0], "--sessions", clean[1], "--out", out)
    assert result.exit_code == 2, result.output
    text = _text(result)
    assert "no model at models:/dropout-risk@champion" in text
    assert "Fix: run `dropout-risk train` first" in text
    assert not out.exists()


def test_score_with_the_trained_model(trained, tmp_path):
    out = tmp_path / "risk.csv"
    report = tmp_path / "risk.html"
    result = _invoke(
        "score",
        "--clients",
        trained["clients"],
        "--sessions",
        trained["sessions"],
        "--out",
        out,
        "--report",
        report,
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert len(written) > 0
    assert written["rank"].tolist() == list(range(1, len(written) + 1))
    assert report.exists()
    text = _text(result)
    assert f"scored {int(written['scored'].sum())} of {len(written)} active clients" in text
    assert "risk.csv" in text


def test_score_reads_the_exports_into_mallocs_heap(trained, tmp_path, monkeypatch):
    import pyarrow as pa

    import pipeline.commands.score as score_command

    pools, real_read = [], score_command.read_table

    def reading(*args, **kwargs):
        pools.append(pa.default_memory_pool().backend_name)
        return real_read(*args, **kwargs)

    before = pa.default_memory_pool()
    monkeypatch.setattr(score_command, "read_table", reading)
    try:
        pa.set_memory_pool(pa.mimalloc_memory_pool())  # Arrow's own, as the wheels default to
        result = _invoke(
            "score", "--clients", trained["clients"], "--sessions", trained["sessions"],
            "--out", tmp_path / "risk.csv",
        )  # fmt: skip
    finally:
        pa.set_memory_pool(before)
    assert result.exit_code == 0, result.output
    assert pools == ["system", "system"]


def test_score_as_of_option(trained, tmp_path, clean):
    out = tmp_path / "risk.parquet"
    result = _invoke(
        "score",
        "--clients",
        clean[0],
        "--sessions",
        clean[1],
        "--out",
        out,
        "--as-of",
        "2026-01-06",
    )
    assert result.exit_code == 0, result.output
    written = pd.read_parquet(out).set_index("client_id")
    assert bool(written.loc["A", "scored"]) and not bool(written.loc["B", "scored"])
    assert "as of 2026-01-06" in _text(result)


def test_score_bad_as_of_exits_2(trained, tmp_path, clean):
    result = _invoke(
        "score",
        "--clients",
        clean[0],
        "--sessions",
        clean[1],
        "--out",
        tmp_path / "r.csv",
        "--as-of",
        "soon",
    )
    assert result.exit_code == 2, result.output
    assert "YYYY-MM-DD" in _text(result)


def test_score_unknown_output_extension_exits_2(trained, tmp_path, clean):
    result = _invoke(
        "score", "--clients", clean[0], "--sessions", clean[1], "--out", tmp_path / "risk.xlsx"
    )
    assert result.exit_code == 2, result.output
    assert "unknown output format" in _text(result)


def test_score_lenient_with_a_bad_row_exits_0(trained, tmp_path, one_bad_row):
    out = tmp_path / "risk.csv"
    result = _invoke(
        "score", "--clients", one_bad_row[0], "--sessions", one_bad_row[1], "--out", out
    )
    assert result.exit_code == 0, result.output
    assert sorted(pd.read_csv(out)["client_id"]) == ["A", "OLD"]
    assert "1 rejected input rows" in _text(result)


def test_score_strict_with_a_bad_row_exits_3(trained, tmp_path, one_bad_row):
    out = tmp_path / "risk.csv"
    result = _invoke(
        "score", "--clients", one_bad_row[0], "--sessions", one_bad_row[1], "--out", out, "--strict"
    )
    assert result.exit_code == 3, result.output
    assert not out.exists()
    assert (tmp_path / "risk.rejected.csv").exists()
    assert "--strict" in _text(result) and "risk.rejected.csv" in _text(result)


def test_unexpected_error_exits_1(trained, tmp_path, clean, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("something broke")

    monkeypatch.setattr("pipeline.commands.score.score_caseload", boom)
    out = tmp_path / "risk.csv"
    result = _invoke("score", "--clients", clean[0], "--sessions", clean[1], "--out", out)
    assert result.exit_code == 1, result.output
    assert "internal error (RuntimeError)" in _text(result)
    assert "RuntimeError: something broke" in result.stderr  # the traceback, for the report
    assert not out.exists()
