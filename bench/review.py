"""Benchmark: the weekly review on five synthetic clinics and the cost of ``--since``.

For each clinic profile in ``pipeline.synthetic.PROFILES`` (none tuned on; seeds from a
range no test or other benchmark uses), a history export is generated, a model trained
on it (a small search, in the clinic's own MLflow store) and the open caseload scored as
of the export with ``--since`` a week before. Reported per clinic:

* the share of scored clients whose first reason is one of their own signals
  (attendance, alliance, outcome), under the rule of the risk list
  (``models.reasons.top_reasons``: a non-blank first reason, checked against the words
  every context feature's template gives for the client) and under the rule before it
  (the strongest risk-raising contribution of any feature, bookkeeping and intake
  included), on the same model and the same contributions;
* how often the old rule's three reasons repeat a fact (two reasons of one topic,
  ``models.reasons.TOPICS``; the new rule gives one reason per topic, so only identical
  words are counted for it), the first reason's topics, and how many clients have a
  context line;
* the What-changed groups (``models.caseload.change_summary``).

Then the cost of ``--since``: ``dropout-risk score`` as a whole process on synthetic
caseloads of 5,000 and 20,000 active clients, with and without ``--since`` (and with and
without ``--report``), median wall time of the repeats, and the ratio (target: at most
1.6 times a plain score).

Usage: python bench/review.py [--clients N] [--profiles a,b] [--sizes N ...] [--repeats R]
Writes bench/review_results.json and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scale import AS_OF, timed_process, write_caseload  # noqa: E402

RESULTS = ROOT / "bench" / "review_results.json"
SEED_BASE = 6301
SINCE_DAYS = 7
SINCE_COST_LIMIT = 1.6
# a small search: the figures are about the reasons and the changes, not the model's skill
TRAINING = {
    "training": {
        "bootstrap": 0,
        "cv_folds": 3,
        "search": {"configs_per_candidate": 1},
        "backtest": {"crossfit_folds": 0},
    }
}


def _config(folder: Path, profile, uri: str) -> Path:
    import yaml

    data = profile.config_overrides() | TRAINING | {"tracking": {"uri": uri}}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")
    return path


def _old_rule(examples: pd.DataFrame, contributions: pd.DataFrame, n: int = 3) -> np.ndarray:
    """The features the rule before this one listed: the top ``n`` eligible contributions."""
    from models.reasons import something_happened

    names = np.array(contributions.columns)
    values = np.where(something_happened(examples, names), contributions.to_numpy(), 0.0)
    order = np.argsort(-values, axis=1, kind="stable")[:, :n]
    picked = names[order].astype(object)
    picked[np.take_along_axis(values, order, axis=1) <= 1e-9] = None
    return picked


def _repeats(features: np.ndarray) -> float:
    """Share of clients with two listed reasons on one topic (a repeated fact)."""
    from models.reasons import TOPICS

    hits = 0
    for row in features:
        topics = [TOPICS.get(f, f"context:{f}") for f in row if f is not None]
        hits += len(topics) != len(set(topics))
    return hits / max(1, len(features))


def reasons_figures(scored, tables, config_path: Path) -> dict:
    """First reasons, repeated facts and context lines, under the new and the old rule."""
    from configs.config import load_config
    from features.labels import active_mask
    from features.landmarks import asof_examples, model_inputs
    from models.reasons import TOPICS, is_signal, something_happened, top_reasons
    from pipeline.registry.tracking import default_model_uri, load_risk_model

    config = load_config(config_path)
    model = load_risk_model(default_model_uri(config), config).model
    stored = model.settings
    clients = tables.clients[active_mask(tables.clients).to_numpy()]
    sessions = tables.sessions[tables.sessions["client_id"].isin(clients["client_id"])]
    examples = asof_examples(clients, sessions, scored.as_of, stored.instruments, stored.features)
    examples = examples.set_index("client_id", drop=False)
    X = model_inputs(examples)
    _, contributions = model.predict_and_explain(X)
    examples = examples.join(model.history.transform(X))
    examples["ctx_history_prior"] = model.history.prior_
    new = top_reasons(examples, contributions, model.feature_settings)
    old = _old_rule(examples, contributions)
    first_old = pd.Series(old[:, 0])
    # the new rule's first topic: the topic with the largest summed eligible contribution
    names = list(contributions.columns)
    eligible = something_happened(examples, names)
    positive = np.where(eligible & (contributions.to_numpy() > 1e-9), contributions.to_numpy(), 0)
    topic_names = sorted({TOPICS[c] for c in names if c in TOPICS})
    by_topic = np.zeros((len(X), len(topic_names)))
    for j, name in enumerate(names):
        if name in TOPICS:
            by_topic[:, topic_names.index(TOPICS[name])] += positive[:, j]
    first_topic = pd.Series(np.array(topic_names, dtype=object)[by_topic.argmax(axis=1)])
    first_topic[by_topic.max(axis=1) <= 1e-9] = None
    # an independent check of the rule: the first reason is never what a context feature's
    # own template says of this client
    from models.reasons import CONTEXT_FEATURES, RowReader, reason_templates

    templates = reason_templates(model.feature_settings)
    rows = RowReader(examples)
    context_names = [c for c in names if c in CONTEXT_FEATURES]
    first_is_context = [
        first != "" and any(first == templates[c](rows[i]) for c in context_names)
        for i, first in enumerate(new["reason_1"])
    ]
    n = len(X)
    return {
        "first_reason_context_words_share": round(float(np.mean(first_is_context)), 3),
        "scored": n,
        "first_reason_signal_share": round(float(new["reason_1"].ne("").mean()), 3),
        "first_reason_blank_share": round(float(new["reason_1"].eq("").mean()), 3),
        "old_rule_first_reason_signal_share": round(
            float(first_old.map(lambda f: f is not None and is_signal(f)).mean()), 3
        ),
        "old_rule_first_reason_context_share": round(
            float(first_old.map(lambda f: f is not None and not is_signal(f)).mean()), 3
        ),
        "old_rule_repeated_fact_share": round(_repeats(old), 3),
        "identical_reasons_share": round(
            float(
                (
                    (new["reason_1"].ne("") & new["reason_1"].eq(new["reason_2"]))
                    | (new["reason_2"].ne("") & new["reason_2"].eq(new["reason_3"]))
                ).mean()
            ),
            3,
        ),
        "context_line_share": round(float(new["context"].ne("").mean()), 3),
        "first_reason_topics": {
            str(k): round(float(v), 3)
            for k, v in first_topic.dropna().value_counts(normalize=True).head(8).items()
        },
    }


def run_clinic(name: str, index: int, n_clients: int, work: Path) -> dict:
    from configs.config import load_config
    from models.caseload import change_summary
    from pipeline.commands.score import run_scoring
    from pipeline.commands.train import run_training
    from pipeline.synthetic import PROFILES, write_cohort

    profile = PROFILES[name]
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.chdir(folder)
    config_path = _config(folder, profile, uri)
    config = load_config(config_path)
    instruments = profile.instruments_for(config.instruments)
    clients, sessions = write_cohort(folder, n_clients, SEED_BASE + index, instruments, profile)
    started = time.perf_counter()
    trained = run_training(clients, sessions, config)
    train_seconds = time.perf_counter() - started
    latest = pd.read_csv(sessions, usecols=["session_date"])["session_date"].max()
    since = pd.Timestamp(latest) - pd.Timedelta(days=SINCE_DAYS)
    scored = run_scoring(
        clients, sessions, folder / "risk.csv", config, since=f"{since:%Y-%m-%d}", details=True
    )
    figures = reasons_figures(scored, trained.tables, config_path)
    figures |= {
        "clinic": name,
        "episodes": n_clients,
        "train_seconds": round(train_seconds, 1),
        "listed": len(scored.risk_list),
        "since": f"{since:%Y-%m-%d}",
        "changes": change_summary(scored.risk_list, config.scoring.risen_by),
        "model": trained.model_version,
        "_uri": uri,
        "_config": str(config_path),
    }
    print(json.dumps({k: v for k, v in figures.items() if not k.startswith("_")}), flush=True)
    return figures


def since_cost(work: Path, clinic: dict, sizes: list[int], repeats: int) -> list[dict]:
    """``score`` with and without ``--since`` (and ``--report``) as whole processes."""
    from configs.config import load_config

    config = load_config(clinic["_config"])
    env = dict(os.environ, MLFLOW_TRACKING_URI=clinic["_uri"])
    cli = str(Path(sys.executable).with_name("dropout-risk"))
    since = f"{pd.Timestamp(AS_OF) - pd.Timedelta(days=SINCE_DAYS):%Y-%m-%d}"
    rows = []
    for n in sizes:
        caseload = write_caseload(work / f"caseload-{n}", n, SEED_BASE + n, config.instruments)
        clients = str(caseload["paths"][("csv", "clients")])
        sessions = str(caseload["paths"][("csv", "sessions")])
        base = [cli, "score", "--clients", clients, "--sessions", sessions, "--as-of", AS_OF,
                "--config", clinic["_config"]]  # fmt: skip
        variants = {
            "plain": [],
            "since": ["--since", since],
            "report": ["--report", str(work / f"risk-{n}.html")],
            "report_since": ["--report", str(work / f"risk-{n}-since.html"), "--since", since],
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(repeats):
            # interleaved, so a slow spell of the machine falls on every variant alike
            for key, extra in variants.items():
                out = work / f"risk-{n}-{key}.csv"
                seconds, _, _ = timed_process([*base, "--out", str(out), *extra], env)
                times[key].append(seconds)
        medians = {k: statistics.median(v) for k, v in times.items()}
        row = {
            "active_clients": caseload["active_clients"],
            "appointments": caseload["appointments"],
            "seconds_median": {k: round(v, 2) for k, v in medians.items()},
            "seconds_all": {k: [round(t, 2) for t in v] for k, v in times.items()},
            "since_ratio": round(medians["since"] / medians["plain"], 2),
            "since_ratio_with_report": round(medians["report_since"] / medians["report"], 2),
        }
        row["within_limit"] = bool(
            row["since_ratio"] <= SINCE_COST_LIMIT
            and row["since_ratio_with_report"] <= SINCE_COST_LIMIT
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    from pipeline.synthetic import PROFILES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4000, help="episodes per clinic")
    parser.add_argument("--profiles", default=",".join(PROFILES))
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[5000, 20000], help="none: keep the last cost"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    work = Path(tempfile.mkdtemp(prefix="dropout-review-"))
    names = [p for p in args.profiles.split(",") if p]
    clinics = [run_clinic(name, list(PROFILES).index(name), args.clients, work) for name in names]
    if args.sizes:
        cost = since_cost(work, clinics[0], args.sizes, args.repeats)
    else:
        cost = json.loads(RESULTS.read_text(encoding="utf-8"))["since_cost"]
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": platform.python_version(),
        "since_days": SINCE_DAYS,
        "clinics": [{k: v for k, v in c.items() if not k.startswith("_")} for c in clinics],
        "since_cost": cost,
        "since_cost_limit": SINCE_COST_LIMIT,
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
