"""Benchmarks and external validation; writes bench/results.json and prints a table.

External validation: train on one synthetic cohort, evaluate on a cohort from a seed the
model never saw (different clients, therapists' draws and sites' quirks), against a
logistic regression on intake attributes alone fitted on the same training episodes.
Timings are medians of wall-clock seconds on this machine.

Usage: python bench/run.py [--train-clients N] [--test-clients N]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-clients", type=int, default=20000)
    parser.add_argument("--test-clients", type=int, default=5000)
    parser.add_argument("--train-seed", type=int, default=101)
    parser.add_argument("--test-seed", type=int, default=202)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dropout-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    os.chdir(work)

    from features.landmarks import model_inputs
    from models.candidates import make_intake_baseline
    from models.training import evaluate_model
    from pipeline.config import load_config
    from pipeline.score import run_scoring
    from pipeline.synth import write_cohort
    from pipeline.train import labelled_landmarks, load_inputs, run_training

    cfg = load_config()
    t0 = time.perf_counter()
    train_c, train_s = write_cohort(
        work / "train", args.train_clients, args.train_seed, cfg.instruments
    )
    test_c, test_s = write_cohort(
        work / "external", args.test_clients, args.test_seed, cfg.instruments
    )
    synth_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    trained = run_training(train_c, train_s, cfg)
    train_seconds = time.perf_counter() - t0
    model = trained.result.model

    def labelled_examples(clients_path, sessions_path):
        return labelled_landmarks(load_inputs(clients_path, sessions_path, cfg), cfg)

    train_ex, train_labels = labelled_examples(train_c, train_s)
    ext_ex, ext_labels = labelled_examples(test_c, test_s)
    baseline = make_intake_baseline(cfg.training.seed).fit(
        model_inputs(train_ex),
        train_ex["client_id"].map(train_labels).to_numpy(dtype=int),
        classifier__sample_weight=train_ex["weight"].to_numpy(),
    )
    champion, champion_ci = evaluate_model(
        model, ext_ex, ext_labels, n_boot=cfg.training.bootstrap, seed=1
    )
    intake, intake_ci = evaluate_model(
        baseline, ext_ex, ext_labels, n_boot=cfg.training.bootstrap, seed=1
    )

    score_times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        scored = run_scoring(test_c, test_s, work / "risk.csv", cfg)
        score_times.append(time.perf_counter() - t0)

    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "external_validation": {
            "train_clients": args.train_clients,
            "train_seed": args.train_seed,
            "external_clients": args.test_clients,
            "external_seed": args.test_seed,
            "external_labelled_episodes": int(len(ext_labels)),
            "selected_candidate": trained.result.selected,
            "calibration": trained.result.calibration,
            "champion": champion,
            "champion_ci95": champion_ci,
            "intake_only_logistic": intake,
            "intake_only_ci95": intake_ci,
        },
        "timing_seconds": {
            "synth_both_cohorts": synth_s,
            "train_end_to_end": train_seconds,
            "score_external_median": statistics.median(score_times),
            "scored_active_clients": int(scored.risk_list["scored"].sum()),
        },
    }
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"machine: {results['machine']}")
    print("| measure | champion (95% CI) | intake-only logistic (95% CI) |\n|---|---|---|")
    for key in ("auroc", "auprc", "brier", "cal_slope", "cal_intercept"):
        lo, hi = champion_ci.get(key, (float("nan"),) * 2)
        blo, bhi = intake_ci.get(key, (float("nan"),) * 2)
        print(
            f"| {key} | {champion[key]:.3f} ({lo:.3f}–{hi:.3f}) | {intake[key]:.3f} ({blo:.3f}–{bhi:.3f}) |"
        )
    print(json.dumps(results["timing_seconds"], indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
