"""Benchmarks: training time and scoring time.

Quality is judged the way the list is used, on synthetic clinics with a known future:
``bench/clinics.py`` (the caseload at export against what happened next, and the
back-test against that truth).

1. Training time on 20,000 historical episodes, search, horizon model, back-test and
   registry included (target: under 8 minutes on 2 cores; issue 12), and on 100,000
   (issue 6's target: under 15 minutes).
2. Scoring time for the active caseload of a separate 4,000-client export with the
   20,000-episode model (median of repeats).

Usage: python bench/run.py [--train-time-clients N ...] [--repeats N]
Writes bench/results.json and prints the figures. Figures are wall-clock seconds on this
machine; quote medians and ratios, with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# issue 12: 20,000 episodes in 8 minutes; issue 6: 100,000 in 15
TRAIN_TARGET_MINUTES = {20_000: 8, 100_000: 15}


def training_time(work: Path, cfg, n_clients: int, seed: int) -> dict:
    import pandas as pd

    from pipeline.commands.train import run_training
    from pipeline.synthetic import write_cohort

    clients, sessions = write_cohort(work / "big", n_clients, seed, cfg.instruments)
    n_appointments = len(pd.read_csv(sessions, usecols=["client_id"]))
    started = time.perf_counter()
    trained = run_training(clients, sessions, cfg)
    seconds = time.perf_counter() - started
    return {
        "clients": n_clients,
        "appointments": n_appointments,
        "labelled_episodes": int(trained.result.split_summary["n_labelled_episodes"]),
        "seconds": seconds,
        "selected_candidate": trained.result.selected,
        "search": trained.result.search,
        "examples": int(trained.result.split_summary["n_examples"]),
        "target_minutes": TRAIN_TARGET_MINUTES.get(n_clients),
        "under_target": bool(seconds < TRAIN_TARGET_MINUTES.get(n_clients, 1e9) * 60),
    }


def scoring_time(work: Path, cfg, test_dir: Path, repeats: int) -> dict:
    from pipeline.commands.score import run_scoring

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        scored = run_scoring(
            test_dir / "clients.csv", test_dir / "sessions.csv", work / "risk.csv", cfg
        )
        times.append(time.perf_counter() - started)
    return {
        "active_clients": int(len(scored.risk_list)),
        "scored": int(scored.risk_list["scored"].sum()),
        "median_seconds": statistics.median(times),
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-time-clients", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--scoring-clients", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2711)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dropout-bench-"))
    os.chdir(work)
    from configs.config import load_config
    from pipeline.synthetic import write_cohort

    cfg = load_config()
    results: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "training_time": [],
    }
    for i, n in enumerate(args.train_time_clients):
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / f'mlflow-{n}.db'}"
        results["training_time"].append(training_time(work / f"train-{n}", cfg, n, args.seed + i))
        _print_training(results["training_time"][-1])
        if i == 0:
            # scoring with the first (20,000-episode) model, on an export it never saw
            export = work / "scoring"
            write_cohort(export, args.scoring_clients, args.seed + 50, cfg.instruments)
            results["scoring"] = scoring_time(work, cfg, export, args.repeats)
    out = ROOT / "bench" / "results.json"
    # bench/scale.py keeps its own section ("scale") in the same file; the landmark-row
    # quality figures of earlier versions are gone (bench/clinics.py replaces them)
    previous = json.loads(out.read_text()) if out.exists() else {}
    for stale in ("quality", "quality_by_seed"):
        previous.pop(stale, None)
    out.write_text(json.dumps({**previous, **results}, indent=2))
    print(f"machine: {results['machine']}")
    if "scoring" in results:
        sc = results["scoring"]
        print(
            f"scoring {sc['active_clients']} active clients: median {sc['median_seconds']:.1f} s "
            f"over {sc['repeats']} runs"
        )
    print(f"wrote {out}")


def _print_training(t: dict) -> None:
    print(
        f"training on {t['clients']} clients ({t['appointments']} appointments, "
        f"{t['labelled_episodes']} labelled episodes, {t['examples']} examples), search "
        f"included: {t['seconds'] / 60:.1f} min"
        + (
            f" ({'under' if t['under_target'] else 'OVER'} {t['target_minutes']})"
            if t["target_minutes"]
            else ""
        )
    )


if __name__ == "__main__":
    main()
