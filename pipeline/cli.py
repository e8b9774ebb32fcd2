"""The `dropout-risk` command: a thin Typer layer over the pipeline functions.

Config is read once here and passed down. Exit statuses follow CONTRACT.md: 0 success,
2 unusable inputs, 3 rows rejected under --strict, 1 an unexpected internal error; and
for `promote`, which the contract does not cover, 4 when a gate refused the challenger.
"""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from configs.config import load_config
from configs.errors import InputError, RejectedRowsError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Dropout risk for therapy caseloads: calibrated, explained, tracked in MLflow.",
)
# markup off: messages quote file names and cell values, which may hold "[...]"
console = Console(stderr=True, highlight=False, markup=False)
stdout = Console(highlight=False, markup=False)  # tables: the command's output proper
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML overriding configs/default.yaml.")
]
ClientsOpt = Annotated[Path, typer.Option("--clients", help="clients table (.csv or .parquet)")]
SessionsOpt = Annotated[Path, typer.Option("--sessions", help="sessions table (.csv or .parquet)")]


def _fail(message: str, code: int) -> None:
    console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _exit_statuses():
    """Map the pipeline's exceptions to the contract's exit statuses."""
    try:
        yield
    except typer.Exit:
        raise
    except InputError as exc:
        _fail(str(exc), 2)
    except RejectedRowsError as exc:
        _fail(str(exc), 3)
    except KeyboardInterrupt:
        _fail("interrupted; no partial output was written", 1)
    except Exception as exc:  # noqa: BLE001 - the contract's status 1 for anything unexpected
        traceback.print_exc(file=sys.stderr)
        _fail(f"internal error ({type(exc).__name__}). Please report it with the output above.", 1)


@contextlib.contextmanager
def _progress(title: str, stages: int):
    """The pipeline's progress callback for a command of ``stages`` stages, on stderr: a
    rich progress bar (step, count done, time left) on a terminal, plain lines such as
    ``train [3/7] [5/42] cross-validating logistic ...`` otherwise (``pipeline.reports.progress``)."""
    from pipeline.reports.progress import reporting

    with reporting(console, title, stages) as progress:
        yield progress


def _report_extra_columns(extra: dict) -> None:
    for table, columns in extra.items():
        if columns:
            console.print(f"note: {table}: ignored extra columns {', '.join(columns)}")


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="directory for clients.csv and sessions.csv")],
    n_clients: Annotated[
        int | None, typer.Option("--n-clients", min=1, help="episodes to generate")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="random seed")] = None,
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            help="named synthetic clinic (default, long_courses, fortnightly_sud, "
            "srs_only_brief, wai_s)",
        ),
    ] = "default",
    truth: Annotated[
        bool,
        typer.Option(
            "--truth",
            help="also write truth.csv: each active client's eventual outcome and true "
            "dropout probability",
        ),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Write a synthetic cohort that follows the data contract."""
    with _exit_statuses():
        from pipeline.synthetic import PROFILES, write_clinic, write_cohort

        if profile not in PROFILES:
            raise InputError(
                f"unknown --profile {profile!r}. Fix: use one of {', '.join(PROFILES)}."
            )
        clinic = PROFILES[profile]
        cfg = load_config(config)
        n = n_clients if n_clients is not None else cfg.synth.n_clients
        s = seed if seed is not None else cfg.synth.seed
        # The clinic's instruments (e.g. WAI-S on 1-7) shape the ratings written; the
        # other commands need the same settings to accept them, so say which.
        instruments = clinic.instruments_for(cfg.instruments)
        if truth:
            paths = write_clinic(
                out, n, s, instruments, clinic, horizon_days=cfg.label.horizon_days
            )
        else:
            paths = write_cohort(out, n, s, instruments, clinic)
        console.print(
            f"wrote {' and '.join(str(p) for p in paths)} ({n} clients, seed {s}, "
            f"profile {profile})"
        )
        overrides = clinic.config_overrides()
        if overrides:
            console.print(
                f"note: profile {profile} uses instrument settings {overrides['instruments']}; "
                "put them under instruments: in the --config of validate, train and score"
            )


@app.command()
def validate(
    clients: ClientsOpt,
    sessions: SessionsOpt,
    config: ConfigOpt = None,
    problems: Annotated[
        Path | None,
        typer.Option(
            "--problems",
            help="also write every problem (file, row, column, value, reason) to this "
            ".csv or .parquet file; the screen shows the first 200",
        ),
    ] = None,
) -> None:
    """Report every problem in the inputs; exit 0 when there are none."""
    with _exit_statuses():
        from pipeline.commands.inputs import load_inputs
        from pipeline.commands.score import rejected_rows
        from pipeline.io.output import TABLE_SUFFIXES, write_table

        if problems is not None and problems.suffix.lower() not in TABLE_SUFFIXES:
            _fail(f"{problems}: unknown format. Fix: end --problems in .csv or .parquet.", 2)
        cfg = load_config(config)
        tables = load_inputs(clients, sessions, cfg)
        _report_extra_columns(tables.extra_columns)
        issues = tables.issues
        if problems is not None:
            write_table(rejected_rows(tables), problems)
            console.print(f"every problem: {problems}")
        if not len(issues):
            console.print(
                f"ok: {tables.n_client_rows} client rows and {tables.n_session_rows} session rows, no problems"
            )
            return
        table = Table("file", "row", "column", "value", "reason", title=f"{len(issues)} problems")
        for rec in issues.head(200).itertuples():
            table.add_row(
                str(rec.file), str(rec.row), str(rec.column), str(rec.value), str(rec.reason)
            )
        stdout.print(table)
        if len(issues) > 200:
            more = f"... and {len(issues) - 200} more"
            console.print(more if problems else f"{more} (--problems F.csv writes them all)")
        _fail(
            f"{len(issues)} problems found in the inputs (rows with problems are rejected by train and score)",
            3,
        )


@app.command()
def train(
    clients: ClientsOpt,
    sessions: SessionsOpt,
    config: ConfigOpt = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir",
            help="also write the evaluation report (HTML + PNG) here; it is always logged to MLflow",
        ),
    ] = None,
) -> None:
    """Build features, fit and evaluate candidates, log to MLflow, register the champion."""
    with _exit_statuses():
        from pipeline.commands.train import STAGES, run_training

        cfg = load_config(config)
        with _progress("train", len(STAGES)) as progress:
            outcome = run_training(clients, sessions, cfg, progress, report_dir=report_dir)
        _report_extra_columns(outcome.tables.extra_columns)
        _print_training(outcome)
        if report_dir is not None:
            console.print(f"evaluation report: {Path(report_dir) / 'report.html'}")


@app.command()
def promote(
    clients: ClientsOpt,
    sessions: SessionsOpt,
    config: ConfigOpt = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="promote even when a gate fails (logged as forced)"),
    ] = False,
) -> None:
    """Compare the challenger with the champion on held-out clients; promote it if it is safe.

    Exit status 0 when promoted (or nothing to do), 4 when a gate refused it.
    """
    with _exit_statuses():
        from pipeline.commands.promote import STAGES, run_promotion

        cfg = load_config(config)
        with _progress("promote", len(STAGES)) as progress:
            outcome = run_promotion(clients, sessions, cfg, force=force, progress=progress)
        if outcome.note:
            console.print(outcome.note)
        if not outcome.gates:
            return
        name = cfg.tracking.registered_model
        champion = f"v{outcome.champion_version}" if outcome.champion_version else "none"
        table = Table(
            "gate",
            f"champion ({champion})",
            f"challenger (v{outcome.challenger_version})",
            "rule",
            "passed",
            title=f"promotion of {name} v{outcome.challenger_version}: {outcome.decision}",
        )
        for gate in outcome.gates:
            table.add_row(
                gate.name.replace("_", " "),
                gate.champion,
                gate.challenger,
                gate.rule,
                Text("yes", style="green") if gate.passed else Text("NO", style="bold red"),
            )
        stdout.print(table)
        console.print(
            f"held-out episodes compared: {int(outcome.figures.get('episodes', 0))}; "
            f"promotion run: {outcome.run_id}"
        )
        if outcome.promoted:
            forced = (
                " (forced past a failing gate)" if outcome.decision.endswith("(forced)") else ""
            )
            console.print(f"{name}@champion is now v{outcome.challenger_version}{forced}")
        else:
            failed = ", ".join(g.name.replace("_", " ") for g in outcome.gates if not g.passed)
            _fail(
                f"promotion refused: {failed} gate failed; champion stays {champion}. "
                "Fix: investigate the figures above, or pass --force to promote anyway (logged).",
                4,
            )


def _print_caseload(caseload) -> None:
    if caseload is None or not len(caseload):
        return
    table = Table(
        "past caseloads of held-out clients",
        "AUROC (95% CI)",
        "cal. slope (95% CI)",
        "observed − predicted (95% CI)",
        "rows scored",
        title="the caseload back-test (the headline: the list as it is used)",
    )

    def cell(row, metric: str) -> str:
        lo, hi = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
        interval = f" ({lo:.3f}–{hi:.3f})" if lo == lo and hi == hi and lo is not None else ""
        return f"{row[metric]:.3f}{interval}"

    names = {"risk_notebook": "baseline: notebook model"}
    for _, row in caseload[caseload["date"].eq("pooled")].iterrows():
        table.add_row(
            names.get(row["target"], row["target"]),
            cell(row, "auroc"),
            cell(row, "cal_slope"),
            cell(row, "calibration_in_the_large"),
            f"{int(row['n_rows'])}",
        )
    stdout.print(table)


def _print_training(outcome) -> None:
    r = outcome.result
    _print_caseload(outcome.caseload)
    table = Table(
        "closed held-out episodes",
        "AUROC (95% CI)",
        "AUPRC",
        "Brier",
        "cal. slope",
        "cal. intercept",
        title="the landmark view (each closed episode once)",
    )

    def row(name: str, m: dict, ci: dict) -> None:
        lo, hi = ci.get("auroc", (float("nan"), float("nan")))
        interval = f" ({lo:.3f}–{hi:.3f})" if ci else ""
        table.add_row(
            name,
            f"{m['auroc']:.3f}{interval}",
            f"{m['auprc']:.3f}",
            f"{m['brier']:.3f}",
            f"{m['cal_slope']:.3f}",
            f"{m['cal_intercept']:.3f}",
        )

    row(f"new model: {r.selected}", r.test_metrics, r.test_intervals)
    for name, metrics in r.baseline_metrics.items():
        row(f"baseline: {name}", metrics, {})
    stdout.print(table)
    console.print(
        f"selected {r.selected} {json.dumps(r.selected_params, sort_keys=True)} "
        f"(calibration: {r.calibration}); registered {outcome.model_version} as "
        f"{' and '.join(outcome.aliases)}"
        + (
            ""
            if "champion" in outcome.aliases
            else "; compare it with the champion: dropout-risk promote"
        )
        + "\n"
        f"MLflow store: {outcome.tracking_uri}  run: {outcome.run_id}"
    )


@app.command()
def score(
    clients: ClientsOpt,
    sessions: SessionsOpt,
    out: Annotated[Path, typer.Option("--out", help="risk list (.csv or .parquet)")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="score as of this date (default: latest session)")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="model URI (default models:/dropout-risk@champion)"),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="also write an HTML page of the list")
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir",
            help="also write DIR/index.html for the lead and one page per therapist",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="also score the caseload as of this earlier date and add what changed",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="exit 3 when any input row is rejected")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Score every active client and write the ranked risk list."""
    with _exit_statuses():
        from pipeline.registry.prefetch import start_fetch
        from pipeline.registry.tracking import default_model_uri

        cfg = load_config(config)
        # the second process fetches the model from here on, and a thread reads the CSV
        # exports, while this one imports the scoring code (pandas, the features, the
        # models: about a second)
        with start_fetch(model or default_model_uri(cfg), cfg) as pending:
            from models.memory import use_one_heap
            from pipeline.io.read_ahead import ReadAhead

            use_one_heap()  # before the exports are read into Arrow's memory
            with ReadAhead([clients, sessions]) as ahead:
                from pipeline.commands.score import run_scoring

                outcome = run_scoring(
                    clients,
                    sessions,
                    out,
                    cfg,
                    as_of=as_of,
                    strict=strict,
                    # trajectories and full explanations: the pages only
                    details=report is not None or report_dir is not None,
                    since=since,
                    pending=pending,
                    ahead=ahead,
                )
        _report_extra_columns(outcome.extra_columns)
        _print_scoring(outcome)
        if report is not None:
            from pipeline.reports.risk_page import write_report

            write_report(outcome, report)
            console.print(f"report: {report}")
        if report_dir is not None:
            from pipeline.reports.caseload_pages import write_report_dir

            index = write_report_dir(outcome, report_dir)
            console.print(f"pages for the lead and each therapist: {index}")


def _print_drift(outcome) -> None:
    drift = getattr(outcome, "drift", None)
    if drift is None:
        console.print("drift: the model has no training summary to compare with (retrain it)")
        return
    if not drift.judged:
        console.print(f"drift: not judged: {drift.note}")
        return
    moved = drift.moved()
    if not len(moved):
        console.print(
            f"drift: no feature moved against the training data ({drift.n_rows} clients; "
            f"details: {outcome.drift_path})"
        )
        return
    word = "ALARM" if drift.alarm else "moved"
    table = Table("status", "feature", "PSI", "missing now", "missing in training",
                  title=f"drift {word}: {len(moved)} features moved against the training data")  # fmt: skip
    for rec in moved.itertuples():
        table.add_row(
            Text(rec.status, style="bold red" if rec.status == "alarm" else "yellow"),
            str(rec.feature),
            f"{rec.psi:.2f}",
            f"{rec.missing_now:.0%}",
            f"{rec.missing_reference:.0%}",
        )
    stdout.print(table)
    console.print(f"drift details: {outcome.drift_path}")


def _print_changes(outcome) -> None:
    since = getattr(outcome, "since", None)
    if since is None:
        return
    from models.caseload import change_summary

    counts = change_summary(outcome.risk_list, outcome.risen_points)
    console.print(
        f"since {since:%Y-%m-%d}: {counts['new_high']} new to high, {counts['risen']} risen by "
        f"{100 * outcome.risen_points:.0f} points or more, {counts['left_high']} left high, "
        f"{counts['new']} new clients"
    )


def _print_scoring(outcome, top: int = 0) -> None:
    rl = outcome.risk_list
    counts = rl["risk_tier"].value_counts()
    console.print(
        f"scored {int(rl['scored'].sum())} of {len(rl)} active clients as of {outcome.as_of:%Y-%m-%d} "
        f"with {outcome.model_version}: high {counts.get('high', 0)}, medium {counts.get('medium', 0)}, "
        f"low {counts.get('low', 0)}, not scored {int((~rl['scored']).sum())}"
    )
    console.print(f"risk list: {outcome.out_path}")
    _print_changes(outcome)
    _print_drift(outcome)
    if outcome.n_rejected_rows:
        console.print(f"{outcome.n_rejected_rows} rejected input rows: see {outcome.rejected_path}")
    if top:
        table = Table("rank", "client", "therapist", "risk", "tier", "top reason")
        for rec in rl.head(top).itertuples():
            risk = "" if rec.risk != rec.risk else f"{100 * rec.risk:.0f}%"
            table.add_row(
                str(rec.rank),
                str(rec.client_id),
                str(rec.therapist_id),
                risk,
                rec.risk_tier,
                rec.reason_1,
            )
        stdout.print(table)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="directory for the demo's files")] = Path(
        "demo-output"
    ),
    config: ConfigOpt = None,
) -> None:
    """Synthesise a cohort, train, score the active clients and report, on the default store."""
    with _exit_statuses():
        from pipeline.commands.demo import STAGES, run_demo

        cfg = load_config(config)
        with _progress("demo", len(STAGES)) as progress:
            result = run_demo(out, cfg, progress)
        _print_training(result.train)
        console.print(result.promotion)
        _print_scoring(result.score, top=10)
        console.print(
            f"metrics: {result.metrics_path}\nrisk list page: {result.report_path}\n"
            f"pages for the lead and each therapist: {result.pages_path}\n"
            f"evaluation report: {result.evaluation_path}"
            + (f"\nscreenshot: {result.screenshot_path}" if result.screenshot_path else "")
        )
