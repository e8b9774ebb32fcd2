"""Progress a person can read: counted stages and steps, a rich bar on a terminal and plain
lines elsewhere (``pipeline.reports.progress``), fed by the pure ``models.training.Steps``.

No test here trains a model: the helper is driven with the texts and counts training
sends, and the CLI with a stand-in for the promotion.
"""

from __future__ import annotations

import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from models.progress import CountedProgress, Steps, develop_steps
from pipeline.cli import app
from pipeline.commands import demo, promote, train
from pipeline.commands.promote import PromotionOutcome
from pipeline.reports.progress import Reporter, reporting, stage

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
COUNT = re.compile(r"(\d+)/(\d+)")
SPINNER = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
TITLE = "train"
FOLDS = [f"cross-validating logistic (configuration 1 of 2), fold {k} of 2" for k in (1, 2)]


def _console(terminal: bool, width: int = 160) -> tuple[Console, StringIO]:
    out = StringIO()
    return Console(file=out, force_terminal=terminal, width=width, highlight=False), out


def _training_like(progress) -> None:
    """What ``run_training`` and ``train_models`` send, in miniature: three stages, the
    second with four counted steps, the third with an uncounted message."""
    stage(progress, "reading and validating inputs")
    stage(progress, "fitting and evaluating the models")
    steps = Steps(progress)
    steps.expect(4)
    for text in FOLDS:
        steps(text)
    steps("refitting logistic on 120 development clients")
    steps("evaluating on 30 held-out test clients, with baselines")
    stage(progress, "back-testing on the held-out clients' past caseloads")
    progress("back-test fold 1/2: refitting logistic on 60 development clients")


class _Recorder:
    """A counted callback that keeps what it hears."""

    def __init__(self) -> None:
        self.heard: list[tuple] = []

    def __call__(self, text: str) -> None:
        self.heard.append((text,))

    def step(self, text: str, number: int, total: int) -> None:
        self.heard.append((text, number, total))


# ---------------------------------------------------------------- not a terminal


def test_plain_lines_carry_the_stage_and_step_counts():
    console, out = _console(terminal=False)
    with reporting(console, TITLE, 3) as progress:
        _training_like(progress)
    lines = out.getvalue().splitlines()
    assert lines[:-1] == [
        "train [1/3] reading and validating inputs",
        "train [2/3] fitting and evaluating the models",
        f"train [2/3] [1/4] {FOLDS[0]}",
        f"train [2/3] [2/4] {FOLDS[1]}",
        "train [2/3] [3/4] refitting logistic on 120 development clients",
        "train [2/3] [4/4] evaluating on 30 held-out test clients, with baselines",
        "train [3/3] back-testing on the held-out clients' past caseloads",
        "train [3/3] back-test fold 1/2: refitting logistic on 60 development clients",
    ]
    assert re.fullmatch(r"train done in \d+:\d\d:\d\d", lines[-1])


def test_plain_lines_have_no_source_path_escape_code_or_spinner():
    console, out = _console(terminal=False, width=40)  # narrow: a line must not wrap
    with reporting(console, TITLE, 3) as progress:
        _training_like(progress)
        progress("a message quoting [bold]brackets[/bold] as written")
    text = out.getvalue()
    assert "\x1b" not in text
    assert "cli.py" not in text and "progress.py" not in text
    assert not SPINNER & set(text)
    assert f"train [2/3] [1/4] {FOLDS[0]}\n" in text  # one line, however narrow
    assert "[bold]brackets[/bold]" in text


def test_the_cli_prints_plain_lines_when_stderr_is_not_a_terminal(monkeypatch, tmp_path):
    """CliRunner's stderr is not a terminal: the command's stages as plain lines."""

    def _promotion(clients, sessions, config, *, force=False, progress=None):
        for text in promote.STAGES:
            stage(progress, text)
        return PromotionOutcome(
            gates=[], promoted=False, forced=force, champion_version="1",
            challenger_version="1", run_id="", note="v1 is already the champion",
        )  # fmt: skip

    monkeypatch.setattr(promote, "run_promotion", _promotion)
    args = ["promote", "--clients", str(tmp_path / "c.csv"), "--sessions", str(tmp_path / "s.csv")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    n = len(promote.STAGES)
    for k, text in enumerate(promote.STAGES, 1):
        assert f"promote [{k}/{n}] {text}\n" in result.stderr
    assert "promote done in " in result.stderr
    assert "\x1b" not in result.stderr and "cli.py:" not in result.stderr


# ---------------------------------------------------------------- a terminal


def test_on_a_terminal_the_bar_shows_the_step_its_count_and_the_time():
    console, out = _console(terminal=True)
    with reporting(console, TITLE, 3) as progress:
        stage(progress, "fitting and evaluating the models")
        steps = Steps(progress)
        steps.expect(4)
        steps(FOLDS[0])
        steps(FOLDS[1])
        frame = ESCAPE.sub("", out.getvalue()).split("\r")[-1].splitlines()
    assert "\x1b[" in out.getvalue()  # a live display, not plain lines
    stages, step = frame
    assert stages.startswith("train: fitting and evaluating the models")
    assert " 0/3 " in stages  # the first of three stages under way, none done
    assert step.strip().startswith(FOLDS[1])
    assert " 1/4 " in step  # one step done of four
    assert "━" in step  # the bar
    assert re.search(r"\d:\d\d:\d\d [-\d]:[-\d]{2}:[-\d]{2}\s*$", step)  # elapsed, left
    assert "cli.py" not in out.getvalue() and not SPINNER & set(out.getvalue())


def test_on_a_narrow_terminal_the_count_and_times_still_show():
    console, out = _console(terminal=True, width=72)
    with reporting(console, TITLE, 3) as progress:
        stage(progress, "back-testing on the held-out clients' past caseloads")
        steps = Steps(progress)
        steps.expect(8)
        steps("back-test fold 1/4: " + FOLDS[0])
        frame = ESCAPE.sub("", out.getvalue()).split("\r")[-1].splitlines()
    assert all(len(line.rstrip("\n")) <= 72 for line in frame)
    assert " 0/3 " in frame[0] and " 0/8 " in frame[1]
    assert "…" in frame[1]  # the long step text is cut, not the count


def test_the_bar_ends_complete_and_without_the_step_line():
    console, out = _console(terminal=True)
    with reporting(console, TITLE, 3) as progress:
        _training_like(progress)
    last = ESCAPE.sub("", out.getvalue()).split("\r")[-1]
    assert last.startswith("train: done") and " 3/3 " in last
    assert "back-test fold" not in last


# ---------------------------------------------------------------- the counts


def test_counts_never_pass_their_totals():
    """More stages and steps than announced, and steps taken away: every count shown
    stays within its total."""
    console, out = _console(terminal=False)
    with reporting(console, TITLE, 2) as progress:
        for k in range(4):
            stage(progress, f"stage {k + 1}")
        steps = Steps(progress)
        steps.expect(3)
        for k in range(5):
            steps(f"step {k + 1}")
        steps.skip(10)
        steps("one more")
        progress.step("a careless caller", 9, 4)
    pairs = [tuple(map(int, p)) for p in COUNT.findall(out.getvalue())]
    assert pairs and all(1 <= done <= total for done, total in pairs)
    assert "[4/4] stage 4" in out.getvalue() and "[9/9] a careless caller" in out.getvalue()


def test_steps_number_within_their_total():
    heard = _Recorder()
    steps = Steps(heard)
    steps.expect(5)
    steps("a")
    steps.skip(2)  # e.g. configurations the time box will not run
    steps("b")
    steps.skip(99)  # never below the steps already taken
    assert steps.total == steps.number == 2
    steps.expect(-3)  # nonsense is ignored
    assert heard.heard == [("a", 1, 5), ("b", 2, 3)]
    assert all(n <= t for _, n, t in heard.heard)


def test_nested_work_shares_one_count():
    """``develop`` adds its steps to the ``Steps`` it is given (``train_models``'),
    so the whole of the fitting is one count announced before its first step."""
    heard = _Recorder()
    outer = Steps(heard)
    outer.expect(1)  # the evaluation
    inner = outer if isinstance(outer, Steps) else Steps(outer)  # as develop does
    inner.expect(develop_steps(n_folds=2, n_configs=3, own_calibration_folds=False))
    inner("fold 1")
    assert heard.heard == [("fold 1", 1, 1 + 2 * (3 + 0 + 1) + 2)]
    assert develop_steps(4, 1, True) == 4 * 3 + 2


def test_a_plain_callback_still_hears_only_the_text():
    heard: list[str] = []
    steps = Steps(heard.append, prefix="back-test fold 1/4: ")
    steps.expect(2)
    steps("refitting logistic")
    stage(heard.append, "reading and validating inputs")
    stage(None, "nothing hears this")
    Steps(None)("nor this")
    assert heard == ["back-test fold 1/4: refitting logistic", "reading and validating inputs"]
    assert isinstance(_Recorder(), CountedProgress)
    assert not isinstance(heard.append, CountedProgress)
    assert isinstance(Reporter(_console(False)[0], TITLE, 1), CountedProgress)


def test_each_command_declares_its_stages():
    assert len(train.STAGES) == 7 and len(promote.STAGES) == 6
    # the demo runs training's stages among its own
    assert demo.STAGES[1 : 1 + len(train.STAGES)] == train.STAGES
    assert len(demo.STAGES) == len(train.STAGES) + 4


# ---------------------------------------------------------------- models stays pure


def test_the_models_side_works_without_rich_or_the_pipeline():
    """``models.training`` imports neither rich nor ``pipeline``: its ``Steps`` counts for
    any callback with the import of both blocked."""
    code = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("rich", "pipeline", "typer"):
            raise ImportError(f"blocked: {name}")

sys.meta_path.insert(0, Block())
from models.progress import Steps

heard = []

class Counted:
    def __call__(self, text):
        heard.append(text)

    def step(self, text, number, total):
        heard.append(f"{number}/{total} {text}")

steps = Steps(Counted())
steps.expect(2)
steps("fold 1 of 2")
plain = Steps(heard.append)
plain("uncounted")
print(heard)
assert heard == ["1/2 fold 1 of 2", "uncounted"], heard
assert not [m for m in sys.modules if m.split(".")[0] in ("rich", "pipeline")]
"""
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr


def test_models_and_features_never_import_the_pipeline_or_rich():
    root = Path(__file__).resolve().parents[3]
    imports = re.compile(r"^\s*(from|import)\s+(pipeline|rich|typer)\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(root))
        for folder in ("models", "features")
        for path in (root / folder).rglob("*.py")
        if imports.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
