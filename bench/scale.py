"""Benchmark: `dropout-risk score` on large active caseloads, CSV and Parquet.

For each caseload size (default 10k, 25k, 50k, 100k and 200k active clients, about 5.5
appointments each), a synthetic caseload is written as CSV and as Parquet, then:

* the floor: the time pandas takes just to read the same two files (``pd.read_csv`` /
  ``pd.read_parquet`` with its defaults), median of the repeats;
* `dropout-risk score` end to end as a fresh process (start-up, model load, reading,
  validation, features, prediction, SHAP reasons, writing the risk list, its rejection
  report and its drift check), wall-clock median of the repeats and the process's peak
  resident memory (GNU time's maximum resident size; see :func:`timed_process`).

The model is trained first on a separate synthetic history (default 6,000 episodes) in a
private MLflow store. Targets (issue 15; issue 6 asked for 60 s and 4 GB): 200k clients
with reasons in 10 s and 1.2 GB on 2 cores, and a caseload of 1,000 clients (``--small``)
in 3 s end to end, start-up included (median of ``--small-repeats`` runs).

Peak memory is the scoring process's own maximum resident size, as GNU time reports it
(see :func:`timed_process`; on Linux the largest of the process and its waited-for
children, here the short-lived process that fetches the model from the registry while
the caller reads its inputs).

The largest caseload is scored again with a gradient-boosting champion of the largest
size the default grid allows (400 trees of 15 leaves), whose exact tree SHAP reasons are
the slowest part there is.

Usage: python bench/scale.py [--sizes N ...] [--repeats N] [--train-clients N] [--no-tree-model]
Merges a ``scale`` section into bench/results.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-06-30"
# Intakes in the ~100 days before the export give ~5.5 appointments per active client.
WINDOW_DAYS = 100
TARGET_SECONDS = 10.0
TARGET_PEAK_GB = 1.2
TARGET_SMALL_SECONDS = 3.0


TREE_MODEL = "dropout-risk-trees"
TREE_CONFIG = f"""
tracking:
  registered_model: {TREE_MODEL}
training:
  candidates:
    logistic: null
    lightgbm: null
    hist_gradient_boosting:
      max_iter: 400
      learning_rate: 0.05
      max_leaf_nodes: 15
      min_samples_leaf: 50
      l2_regularization: 1.0
"""


def _listed(out: Path, n_active: int):
    """The written risk list as text; one row per active client or the benchmark stops."""
    import pandas as pd

    listed = pd.read_csv(
        out, usecols=["client_id", "scored", "reason_1"], dtype=str, keep_default_na=False
    )
    if len(listed) != n_active or listed["client_id"].duplicated().any():
        raise RuntimeError(f"{len(listed)} risk-list rows for {n_active} active clients")
    return listed


def write_caseload(folder: Path, n_active: int, seed: int, instruments) -> dict:
    """``n_active`` active clients (and their appointments) as CSV and Parquet files."""
    from pipeline.synthetic import generate_cohort

    # about 83% of a 100-day window's episodes are still open at the export date
    clients, sessions = generate_cohort(
        int(n_active / 0.8) + 100,
        seed,
        instruments,
        extraction_date=AS_OF,
        intake_window_days=WINDOW_DAYS,
    )
    clients = clients[clients["discharge_date"].isna()].head(n_active)
    if len(clients) < n_active:
        raise RuntimeError(f"generated only {len(clients)} active clients of {n_active}")
    sessions = sessions[sessions["client_id"].isin(clients["client_id"])]
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt in ("csv", "parquet"):
        for name, frame in (("clients", clients), ("sessions", sessions)):
            path = folder / f"{name}.{fmt}"
            if fmt == "csv":
                frame.to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False)
            paths[(fmt, name)] = path
    return {
        "active_clients": int(len(clients)),
        "appointments": int(len(sessions)),
        "paths": paths,
    }


def read_floor(clients: Path, sessions: Path, fmt: str, repeats: int) -> float:
    """Median seconds for pandas just to read the two files, in a fresh process each time."""
    reader = "read_csv" if fmt == "csv" else "read_parquet"
    code = (
        "import sys, time, pandas as pd\n"
        "t = time.perf_counter()\n"
        f"pd.{reader}(sys.argv[1]); pd.{reader}(sys.argv[2])\n"
        "print(time.perf_counter() - t)\n"
    )
    times = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", code, str(clients), str(sessions)],
            check=True,
            capture_output=True,
            text=True,
        )
        times.append(float(done.stdout.strip()))
    return statistics.median(times)


def timed_process(args: list[str], env: dict) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall-clock seconds and peak resident memory (GB) of one child process.

    The peak comes from GNU time (``/usr/bin/time -f %M``) when it is installed: Python
    starts a child by vfork and exec, and Linux then counts the *parent's* resident size
    into the child's ``ru_maxrss`` (this benchmark holds a trained model and a caseload,
    about 1 GB), which would hide the peak of a small run. GNU time is a small process
    that forks the command itself. Without it, ``wait4``'s figure is used.
    """
    gnu_time = Path("/usr/bin/time")
    with tempfile.NamedTemporaryFile(suffix=".rss", delete=False) as handle:
        rss_file = Path(handle.name)
    command = [str(gnu_time), "-f", "%M", "-o", str(rss_file), *args] if gnu_time.exists() else args
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=False
    )
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix all children)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read().decode("utf-8", "replace")
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stdout.close()
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n{out}\n{err}")
    reported = rss_file.read_text().strip().splitlines() if gnu_time.exists() else []
    rss_file.unlink(missing_ok=True)
    kilobytes = int(reported[-1]) if reported and reported[-1].isdigit() else usage.ru_maxrss
    peak_gb = kilobytes * 1024 / 1e9  # Linux reports kilobytes
    return seconds, peak_gb, subprocess.CompletedProcess(args, proc.returncode, out, err)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 25_000, 50_000, 100_000, 200_000]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-clients", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=3001)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--small", type=int, default=1000, help="the small caseload's size")
    parser.add_argument("--small-repeats", type=int, default=7)
    parser.add_argument(
        "--no-tree-model",
        dest="tree_model",
        action="store_false",
        help="skip scoring the largest caseload with a gradient-boosting champion",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dropout-scale-"))
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}")
    os.environ.update(env)
    os.chdir(work)
    from configs.config import load_config
    from pipeline.commands.train import run_training
    from pipeline.synthetic import write_cohort

    cfg = load_config()
    history = write_cohort(work / "history", args.train_clients, args.seed, cfg.instruments)
    started = time.perf_counter()
    trained = run_training(*history, cfg)
    train_seconds = time.perf_counter() - started
    cli = str(Path(sys.executable).with_name("dropout-risk"))

    # a small caseload: end to end, where start-up is nearly all of it
    small = write_caseload(work / "caseload-small", args.small, args.seed + 1, cfg.instruments)
    small_times, small_peaks = [], []
    for _ in range(args.small_repeats):
        seconds, peak, _ = timed_process(
            [
                cli, "score", "--clients", str(small["paths"][("csv", "clients")]),
                "--sessions", str(small["paths"][("csv", "sessions")]),
                "--out", str(work / "risk-small.csv"), "--as-of", AS_OF,
            ],
            env,
        )  # fmt: skip
        small_times.append(seconds)
        small_peaks.append(peak)
    _listed(work / "risk-small.csv", small["active_clients"])
    small_row = {
        "active_clients": small["active_clients"],
        "appointments": small["appointments"],
        "format": "csv",
        "score_seconds_median": round(statistics.median(small_times), 2),
        "score_seconds_all": [round(t, 2) for t in small_times],
        "peak_rss_gb": round(max(small_peaks), 2),
    }
    print(json.dumps(small_row), flush=True)

    rows = []
    for n in args.sizes:
        caseload = write_caseload(work / f"caseload-{n}", n, args.seed + n, cfg.instruments)
        row = {
            "active_clients": caseload["active_clients"],
            "appointments": caseload["appointments"],
        }
        for fmt in ("csv", "parquet"):
            clients = caseload["paths"][(fmt, "clients")]
            sessions = caseload["paths"][(fmt, "sessions")]
            floor = read_floor(clients, sessions, fmt, args.repeats)
            times, peaks = [], []
            for _ in range(args.repeats):
                out = work / f"risk-{n}-{fmt}.csv"
                seconds, peak, _ = timed_process(
                    [
                        cli, "score", "--clients", str(clients), "--sessions", str(sessions),
                        "--out", str(out), "--as-of", AS_OF,
                    ],
                    env,
                )  # fmt: skip
                times.append(seconds)
                peaks.append(peak)
            listed = _listed(out, caseload["active_clients"])
            median = statistics.median(times)
            row[fmt] = {
                "input_mb": round((clients.stat().st_size + sessions.stat().st_size) / 1e6, 1),
                "read_floor_seconds": round(floor, 2),
                "score_seconds_median": round(median, 2),
                "score_seconds_all": [round(t, 2) for t in times],
                "ratio_to_read_floor": round(median / floor, 1),
                "peak_rss_gb": round(max(peaks), 2),
                "scored": int(listed["scored"].eq("true").sum()),
                "with_reasons": int(listed["reason_1"].ne("").sum()),
            }
        rows.append(row)
        print(json.dumps(row), flush=True)

    # The same largest caseload with a gradient-boosting champion of the largest size the
    # default grid allows (400 trees of 15 leaves): the slowest explanations there are.
    trees = None
    if args.tree_model:
        settings = work / "trees.yaml"
        settings.write_text(TREE_CONFIG)
        tree_cfg = load_config(settings)
        started = time.perf_counter()
        tree_run = run_training(*history, tree_cfg)
        tree_train_seconds = time.perf_counter() - started
        n = args.sizes[-1]
        folder = work / f"caseload-{n}"
        trees = {
            "active_clients": rows[-1]["active_clients"],
            "model": tree_run.result.selected,
            "params": tree_run.result.selected_params,
            "train_seconds": round(tree_train_seconds, 1),
        }
        for fmt in ("csv", "parquet"):
            times, peaks = [], []
            out = work / f"risk-trees-{fmt}.csv"
            for _ in range(args.repeats):
                seconds, peak, _ = timed_process(
                    [
                        cli, "score", "--clients", str(folder / f"clients.{fmt}"),
                        "--sessions", str(folder / f"sessions.{fmt}"), "--out", str(out),
                        "--as-of", AS_OF, "--model", f"models:/{TREE_MODEL}@champion",
                    ],
                    env,
                )  # fmt: skip
                times.append(seconds)
                peaks.append(peak)
            listed = _listed(out, rows[-1]["active_clients"])
            trees[fmt] = {
                "score_seconds_median": round(statistics.median(times), 2),
                "score_seconds_all": [round(t, 2) for t in times],
                "peak_rss_gb": round(max(peaks), 2),
                "with_reasons": int(listed["reason_1"].ne("").sum()),
            }
        print(json.dumps(trees), flush=True)

    biggest = rows[-1]
    results_path = ROOT / "bench" / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["scale"] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "as_of": AS_OF,
        "model": {
            "trained_on_clients": args.train_clients,
            "selected_candidate": trained.result.selected,
            "train_seconds": round(train_seconds, 1),
        },
        "repeats": args.repeats,
        "small_caseload": small_row,
        "sizes": rows,
        "tree_champion_at_largest_size": trees,
        "targets_met": {
            **{
                fmt: {
                    "200k_at_most_10_s": bool(
                        biggest[fmt]["score_seconds_median"] <= TARGET_SECONDS
                    ),
                    "200k_at_most_1_2_gb": bool(biggest[fmt]["peak_rss_gb"] <= TARGET_PEAK_GB),
                }
                for fmt in ("csv", "parquet")
            },
            "1k_at_most_3_s": bool(small_row["score_seconds_median"] <= TARGET_SMALL_SECONDS),
        },
    }
    results_path.write_text(json.dumps(results, indent=2))
    print(f"machine: {results['scale']['machine']}; model: {trained.result.selected}")
    print(
        f"{small_row['active_clients']:,} clients end to end: median "
        f"{small_row['score_seconds_median']:.2f} s ({small_row['peak_rss_gb']:.2f} GB)"
    )
    print(
        "| active clients | appointments | format | read floor (s) | score (s) | ratio | peak RSS (GB) |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        for fmt in ("csv", "parquet"):
            r = row[fmt]
            print(
                f"| {row['active_clients']:,} | {row['appointments']:,} | {fmt} | "
                f"{r['read_floor_seconds']:.2f} | {r['score_seconds_median']:.1f} | "
                f"{r['ratio_to_read_floor']:.1f} | {r['peak_rss_gb']:.2f} |"
            )
    if trees:
        print(
            f"gradient-boosting champion ({trees['model']} {trees['params']}) on "
            f"{trees['active_clients']:,} clients: csv {trees['csv']['score_seconds_median']:.1f} s "
            f"({trees['csv']['peak_rss_gb']:.2f} GB), parquet "
            f"{trees['parquet']['score_seconds_median']:.1f} s ({trees['parquet']['peak_rss_gb']:.2f} GB)"
        )
    print(f"targets met: {results['scale']['targets_met']}")
    print(f"wrote {results_path}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
