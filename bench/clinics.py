"""Benchmark: the model judged on synthetic clinics the way it is used, against a known future.

For each clinic profile in ``pipeline.synthetic.PROFILES`` (none of them is tuned on), a
synthetic history export is generated together with what happens afterwards to every
client still open at the export (``pipeline.synthetic.generate_clinic``): the eventual
outcome, whether it is a dropout within the horizon, and each client's true probability
of both (the ceiling no model can beat, from continuing the simulation many times from
the client's full state at the export).

The model is then used exactly as a clinic would use it: ``run_training`` on the export
(its own MLflow store per clinic), ``run_scoring`` of the open caseload as of the
export's latest appointment with the champion. The risk list is compared with the
truth:

* ``risk`` against the eventual outcome and ``risk_within_horizon`` against a dropout
  discharge by the horizon: AUROC, calibration slope and calibration-in-the-large
  (observed rate minus mean predicted risk, a difference of probabilities), with 95%
  bootstrap intervals (clients are rows here, so rows are resampled);
* the ceiling (the true probabilities) and the notebook baseline
  (``models.notebook.NotebookModel``, fitted on the same export) on the same clients,
  and the share of the notebook-to-ceiling AUROC gap the project closes;
* the training run's own caseload back-test (held-out clients' past caseloads), whose
  figures are meant to predict these: the differences say how far they are off.

Usage::

    python bench/clinics.py [--n-clients N] [--profiles a,b,...] [--quick] [--keep] [--update]

Writes ``bench/clinics_results.json`` and ``bench/clinics_table.md`` and prints the
table. Nothing here is tuned to pass: the criteria are reported as they come out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "clinics_results.json"
TABLE = ROOT / "bench" / "clinics_table.md"
# a seed range no test, default or other benchmark uses, so no clinic here was seen
# while the model or the generator was being developed
SEED_BASE = 5101
N_BOOT = 200
CEILING_DRAWS = 200
QUICK_CLIENTS = 2000
# large enough that a caseload slope's interval is about ±0.1 (at 6,000 it was ±0.15–0.3)
FULL_CLIENTS = 20000
QUICK_PROFILES = ("default", "long_courses")

# the "done when" criteria, fixed before any run (see the module docstring)
SLOPE_RANGE = (0.9, 1.1)
CITL_LIMIT = 0.03
NOTEBOOK_MARGIN = 0.02
BACKTEST_AUROC_LIMIT = 0.03
BACKTEST_CITL_LIMIT = 0.03
BACKTEST_SLOPE_LIMIT = 0.1


def _quiet() -> None:
    """Silence library warnings and chatty loggers so each step prints one line.

    MLflow, alembic (the SQLite store's migrations) and the model libraries log at INFO
    on every run and registration; none of it is a figure this benchmark reports.
    """
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    logging.basicConfig(level=logging.WARNING)
    for name in ("mlflow", "alembic", "sqlalchemy", "lightgbm", "shap", "matplotlib", "numba"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def _captured():
    """Send everything written to the process's stdout and stderr to a scratch file.

    MLflow writes straight to its own stream (``eprint``), resets warning filters inside
    ``log_model`` and native libraries print from C, so Python-level filters cannot
    keep the log to one line per step; the file descriptors themselves are redirected.
    When the block raises, the captured tail is replayed so the failure's context is
    not lost.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            sink.seek(0)
            tail = sink.read().decode("utf-8", "replace")[-20000:]
            if tail.strip():
                print("--- captured output of the failed step ---", file=sys.stderr)
                print(tail, file=sys.stderr, flush=True)
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _say(clinic: str, message: str) -> None:
    """One progress line, flushed at once so a background run's log can be followed."""
    print(f"[{time.strftime('%H:%M:%S')}] {clinic}: {message}", flush=True)


# --------------------------------------------------------------------------- figures


def figures(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUROC, calibration slope and calibration-in-the-large of one score.

    Parameters
    ----------
    y
        Observed outcome per client (0/1).
    p
        Predicted probability per client.

    Returns
    -------
    dict
        ``auroc``, ``cal_slope`` (logistic recalibration slope,
        ``models.evaluation.calibration_slope_intercept``), ``citl`` (observed rate minus
        mean predicted probability), ``observed_rate``, ``mean_predicted``, ``n`` and
        ``n_events``; NaN for the outcome-based figures when only one class occurs.
    """
    from sklearn.metrics import roc_auc_score

    from models.evaluation import calibration_slope_intercept

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    out = {
        "n": float(len(y)),
        "n_events": float(y.sum()),
        "observed_rate": float(y.mean()) if len(y) else float("nan"),
        "mean_predicted": float(p.mean()) if len(p) else float("nan"),
    }
    out["citl"] = out["observed_rate"] - out["mean_predicted"]
    if len(np.unique(y)) < 2:
        return out | {"auroc": float("nan"), "cal_slope": float("nan")}
    slope, _ = calibration_slope_intercept(y, p)
    return out | {"auroc": float(roc_auc_score(y, p)), "cal_slope": slope}


def bootstrap(
    y: np.ndarray, scores: dict[str, np.ndarray], n_boot: int, seed: int
) -> dict[str, dict[str, tuple[float, float]]]:
    """95% percentile intervals of each score's AUROC, slope and CITL, and of the AUROC
    differences between the scores, from one shared set of row resamples.

    Sharing the resamples makes the differences paired: the same clients are drawn for
    every score, so the interval of a difference is not inflated by unrelated draws.

    Parameters
    ----------
    y
        Outcome per client (0/1).
    scores
        Name → predicted probability per client (same rows as ``y``).
    n_boot
        Number of resamples.
    seed
        Seed of the resampling.

    Returns
    -------
    dict
        ``{name: {"auroc": (lo, hi), "cal_slope": ..., "citl": ...}}`` and, for every
        pair after the first score, ``{"auroc_diff_<first>_minus_<name>": {"auroc":
        (lo, hi)}}``.
    """
    from sklearn.metrics import roc_auc_score

    from models.evaluation import calibration_slope_intercept

    y = np.asarray(y, dtype=int)
    names = list(scores)
    draws: dict[str, dict[str, list[float]]] = {
        n: {"auroc": [], "cal_slope": [], "citl": []} for n in names
    }
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        yb = y[idx]
        if len(np.unique(yb)) < 2:
            continue
        for name in names:
            pb = np.asarray(scores[name], dtype=float)[idx]
            draws[name]["auroc"].append(roc_auc_score(yb, pb))
            draws[name]["cal_slope"].append(calibration_slope_intercept(yb, pb)[0])
            draws[name]["citl"].append(float(yb.mean() - pb.mean()))

    def interval(values: list[float]) -> tuple[float, float]:
        if not values:
            return (float("nan"), float("nan"))
        lo, hi = np.percentile(values, [2.5, 97.5])
        return (float(lo), float(hi))

    out: dict[str, dict[str, tuple[float, float]]] = {
        name: {m: interval(v) for m, v in draws[name].items()} for name in names
    }
    first = names[0]
    for name in names[1:]:
        diff = np.subtract(draws[first]["auroc"], draws[name]["auroc"]).tolist()
        out[f"auroc_diff_{first}_minus_{name}"] = {"auroc": interval(diff)}
    return out


def gap_closed(project: float, notebook: float, ceiling: float) -> float:
    """Share of the notebook-to-ceiling AUROC gap the project closes (NaN with no gap)."""
    gap = ceiling - notebook
    return float((project - notebook) / gap) if gap > 0 else float("nan")


# --------------------------------------------------------------------------- one clinic


def code_fingerprint() -> str:
    """SHA-256 over the project's source (features/, models/, pipeline/).

    Colleagues edit the training code while benchmarks run; the fingerprint tells which
    clinics were trained by the same code.
    """
    import hashlib

    digest = hashlib.sha256()
    for folder in ("features", "models", "pipeline"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _write_config(path: Path, profile, uri: str) -> None:
    """The clinic's ``--config`` YAML: its instrument overrides and its own store."""
    import yaml

    data = profile.config_overrides() | {"tracking": {"uri": uri}}
    path.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")


def _active(clients: pd.DataFrame) -> np.ndarray:
    """The contract's active episodes: discharge date and reason both blank."""
    return (clients["discharge_date"].isna() & clients["discharge_reason"].isna()).to_numpy()


def _notebook(tables, instruments, as_of, seed: int, exclude=None) -> pd.Series:
    """The notebook baseline fitted on the export and scored on its open caseload.

    Parameters
    ----------
    tables
        The validated export (``TrainOutcome.tables``).
    instruments
        The clinic's instrument definitions.
    as_of
        The scoring date (the same as the project's risk list).
    seed
        The booster's seed.
    exclude
        Client ids left out of the fit (to fit on the project's development clients
        only); None fits on every closed episode, as a notebook would.

    Returns
    -------
    pandas.Series
        Risk per open client_id.
    """
    from models.notebook import NotebookModel

    clients, sessions = tables.clients, tables.sessions
    if exclude is not None:
        keep = ~clients["client_id"].isin(set(exclude))
        fit_clients = clients[keep.to_numpy()]
        fit_sessions = sessions[sessions["client_id"].isin(set(fit_clients["client_id"]))]
    else:
        fit_clients, fit_sessions = clients, sessions
    model = NotebookModel(seed=seed).fit(fit_clients, fit_sessions, instruments)
    open_clients = clients[_active(clients)]
    open_sessions = sessions[sessions["client_id"].isin(set(open_clients["client_id"]))]
    return model.predict_asof(open_clients, open_sessions, as_of, instruments)


def _try_notebook(tables, instruments, as_of, seed: int, exclude=None):
    """:func:`_notebook`, with a failure recorded instead of raised.

    The baseline is a colleague's model under development; when it cannot be fitted on
    a clinic, the project's own figures on that clinic are still worth reporting.

    Returns
    -------
    tuple
        The risk per open client (empty on failure) and the traceback text (None when
        it worked).
    """
    import traceback

    try:
        with _captured():
            return _notebook(tables, instruments, as_of, seed, exclude=exclude), None
    except Exception:
        return pd.Series(dtype=float), traceback.format_exc()


def _backtest(metrics: dict[str, float]) -> dict[str, float]:
    """The training run's pooled caseload back-test figures (NaN when absent)."""
    names = (
        "caseload_auroc",
        "caseload_calibration_slope",
        "caseload_calibration_in_the_large",
        "caseload_horizon_auroc",
        "caseload_horizon_calibration_slope",
        "caseload_horizon_calibration_in_the_large",
    )
    out = {}
    for name in names:
        out[name] = float(metrics.get(name, float("nan")))
        for end in ("ci_low", "ci_high"):
            key = f"{name}_{end}"
            if key in metrics:
                out[key] = float(metrics[key])
    return out


def run_clinic(name: str, index: int, n_clients: int, work: Path, n_boot: int) -> dict:
    """Generate, train, score and judge one clinic.

    Parameters
    ----------
    name
        The profile's key in ``PROFILES``.
    index
        Its position in ``PROFILES`` (the seed is ``SEED_BASE + index``, so a subset of
        profiles gives each clinic the same export as the full run).
    n_clients
        Episodes in the clinic's history.
    work
        A scratch folder; the clinic gets ``work/<name>``.
    n_boot
        Bootstrap resamples for the intervals.

    Returns
    -------
    dict
        Every figure of the clinic (see ``bench/clinics_results.json``).
    """
    import mlflow

    from configs.config import load_config
    from pipeline.commands.score import run_scoring
    from pipeline.commands.train import run_training
    from pipeline.io.output import write_csv as _atomic_csv
    from pipeline.synthetic import PROFILES, generate_clinic

    profile = PROFILES[name]
    seed = SEED_BASE + index
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    # a fresh store per clinic, both ways MLflow looks for it, and ./mlruns inside the
    # clinic's folder: no champion of another clinic can be picked up by scoring
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.chdir(folder)
    config_path = folder / "config.yaml"
    _write_config(config_path, profile, uri)
    config = load_config(config_path)
    instruments = profile.instruments_for(config.instruments)
    horizon = config.label.horizon_days

    started = time.perf_counter()
    clinic = generate_clinic(
        n_clients,
        seed,
        instruments,
        profile,
        horizon_days=horizon,
        ceiling_draws=CEILING_DRAWS,
    )
    clients_path, sessions_path = folder / "clients.csv", folder / "sessions.csv"
    _atomic_csv(clinic.clients, clients_path)
    _atomic_csv(clinic.sessions, sessions_path)
    truth = clinic.truth
    reasons = clinic.clients["discharge_reason"].astype("string").fillna("")
    closed = reasons.ne("")
    n_closed = int(closed.sum())
    n_dropout = int(reasons.eq("dropout").sum())
    n_completed = int(reasons.eq("completed").sum())
    _say(
        name,
        f"generated {n_clients} clients (seed {seed}), {len(clinic.sessions)} appointments, "
        f"{len(truth)} open at export, in {time.perf_counter() - started:.0f} s",
    )

    fingerprint = code_fingerprint()
    # the machine is shared; the load says how far train_seconds is inflated by others
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with _captured():
        outcome = run_training(clients_path, sessions_path, config)
    train_seconds = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    run_metrics = mlflow.get_run(outcome.run_id).data.metrics
    backtest = _backtest(run_metrics)
    _say(
        name,
        f"trained in {train_seconds / 60:.1f} min: {outcome.result.selected} "
        f"({outcome.result.calibration}), {outcome.model_version}",
    )

    started = time.perf_counter()
    with _captured():
        scored = run_scoring(
            clients_path, sessions_path, folder / "risk.csv", config, details=False
        )
    risk_list = scored.risk_list
    as_of = pd.Timestamp(scored.as_of)
    is_scored = risk_list["scored"].astype(bool)
    listed = risk_list.loc[is_scored, ["client_id", "risk", "risk_within_horizon"]]
    joined = truth.merge(listed, on="client_id", how="inner", validate="one_to_one")
    missing_from_list = int((~truth["client_id"].isin(risk_list["client_id"])).sum())
    not_scored = int(len(truth) - len(joined))
    _say(
        name,
        f"scored {int(is_scored.sum())} of {len(risk_list)} listed as of {as_of:%Y-%m-%d} "
        f"in {time.perf_counter() - started:.0f} s; {not_scored} open clients not scored",
    )

    started = time.perf_counter()
    nb_all, nb_error = _try_notebook(outcome.tables, instruments, as_of, seed)
    # the project's model is fitted on its development clients only (the test split is
    # held out for its own evaluation); the same restriction on the notebook shows how
    # much of any difference is just the extra 20% of training data
    nb_dev, nb_dev_error = _try_notebook(
        outcome.tables, instruments, as_of, seed, exclude=outcome.result.test_clients
    )
    joined["risk_notebook"] = joined["client_id"].map(nb_all).astype(float)
    joined["risk_notebook_dev"] = joined["client_id"].map(nb_dev).astype(float)
    if nb_error:
        _say(name, f"notebook baseline FAILED: {nb_error.strip().splitlines()[-1]}")
    else:
        _say(
            name,
            f"notebook baseline fitted and scored in {time.perf_counter() - started:.0f} s "
            f"({int(joined['risk_notebook'].notna().sum())} of {len(joined)} clients "
            "predicted)",
        )

    started = time.perf_counter()
    # the comparison uses the clients both models scored, so the rankings are of the
    # same people (in practice the same set: both need an appointment by the as-of date)
    # (a notebook that failed to fit leaves every client: its own figures are then NaN)
    predicted = joined["risk_notebook"].notna() & joined["risk_notebook_dev"].notna()
    both = joined if nb_error or nb_dev_error else joined[predicted]
    y_end = joined["outcome"].eq("dropout").to_numpy(dtype=int)
    y_hor = joined["dropout_within_horizon"].astype(bool).to_numpy(dtype=int)
    yb_end = both["outcome"].eq("dropout").to_numpy(dtype=int)

    project_risk = figures(y_end, joined["risk"])
    project_horizon = figures(y_hor, joined["risk_within_horizon"])
    risk_vs_horizon = figures(y_hor, joined["risk"])
    ceiling_risk = figures(y_end, joined["p_dropout"])
    ceiling_horizon = figures(y_hor, joined["p_dropout_within_horizon"])
    same = {
        "project": figures(yb_end, both["risk"]),
        "notebook": figures(yb_end, both["risk_notebook"]),
        "notebook_dev_clients_only": figures(yb_end, both["risk_notebook_dev"]),
        "ceiling": figures(yb_end, both["p_dropout"]),
    }
    intervals_end = bootstrap(
        y_end,
        {"project": joined["risk"].to_numpy(), "ceiling": joined["p_dropout"].to_numpy()},
        n_boot,
        seed,
    )
    intervals_hor = bootstrap(
        y_hor,
        {
            "risk_within_horizon": joined["risk_within_horizon"].to_numpy(),
            "risk": joined["risk"].to_numpy(),
        },
        n_boot,
        seed,
    )
    nb_diff = (float("nan"), float("nan"))
    if not nb_error:
        intervals_nb = bootstrap(
            yb_end,
            {"project": both["risk"].to_numpy(), "notebook": both["risk_notebook"].to_numpy()},
            n_boot,
            seed,
        )
        nb_diff = intervals_nb["auroc_diff_project_minus_notebook"]["auroc"]
    _say(name, f"figures and {n_boot}-resample intervals in {time.perf_counter() - started:.0f} s")

    differences = {
        "risk_auroc": abs(backtest["caseload_auroc"] - project_risk["auroc"]),
        "risk_citl": abs(backtest["caseload_calibration_in_the_large"] - project_risk["citl"]),
        "risk_cal_slope": abs(backtest["caseload_calibration_slope"] - project_risk["cal_slope"]),
        "horizon_auroc": abs(backtest["caseload_horizon_auroc"] - project_horizon["auroc"]),
        "horizon_citl": abs(
            backtest["caseload_horizon_calibration_in_the_large"] - project_horizon["citl"]
        ),
        "horizon_cal_slope": abs(
            backtest["caseload_horizon_calibration_slope"] - project_horizon["cal_slope"]
        ),
    }

    def calibrated(f: dict) -> bool:
        return bool(
            SLOPE_RANGE[0] <= f["cal_slope"] <= SLOPE_RANGE[1] and abs(f["citl"]) <= CITL_LIMIT
        )

    criteria = {
        "risk_calibrated": calibrated(project_risk),
        "horizon_calibrated": calibrated(project_horizon),
        # None: the notebook could not be fitted, so the criterion cannot be judged
        "beats_notebook_by_0.02": None
        if nb_error
        else bool(same["project"]["auroc"] >= same["notebook"]["auroc"] + NOTEBOOK_MARGIN),
        "horizon_ranks_better_than_risk": bool(project_horizon["auroc"] > risk_vs_horizon["auroc"]),
        "backtest_risk_matches_truth": bool(
            differences["risk_auroc"] <= BACKTEST_AUROC_LIMIT
            and differences["risk_citl"] <= BACKTEST_CITL_LIMIT
            and differences["risk_cal_slope"] <= BACKTEST_SLOPE_LIMIT
        ),
        "backtest_horizon_matches_truth": bool(
            differences["horizon_auroc"] <= BACKTEST_AUROC_LIMIT
            and differences["horizon_citl"] <= BACKTEST_CITL_LIMIT
            and differences["horizon_cal_slope"] <= BACKTEST_SLOPE_LIMIT
        ),
    }
    return {
        "clinic": name,
        "description": profile.description,
        "seed": seed,
        "n_clients": n_clients,
        "n_appointments": int(len(clinic.sessions)),
        "n_open_at_export": int(len(truth)),
        "open_share": float(len(truth) / n_clients),
        "n_closed": n_closed,
        "dropout_rate_among_closed": float(n_dropout / n_closed) if n_closed else float("nan"),
        "dropout_rate_among_labelled": (
            float(n_dropout / (n_dropout + n_completed)) if n_dropout + n_completed else None
        ),
        "eventual_dropout_rate_open": float(y_end.mean()) if len(y_end) else float("nan"),
        "horizon_dropout_rate_open": float(y_hor.mean()) if len(y_hor) else float("nan"),
        "as_of": f"{as_of:%Y-%m-%d}",
        "horizon_days": horizon,
        "n_risk_list_rows": int(len(risk_list)),
        "n_scored": int(len(joined)),
        "n_open_not_scored": not_scored,
        "n_open_missing_from_risk_list": missing_from_list,
        "n_compared_with_notebook": int(len(both)),
        "train_seconds": train_seconds,
        "load_average_1min_before_after_training": [load_before, load_after],
        "code_fingerprint": fingerprint,
        "selected_candidate": outcome.result.selected,
        "selected_params": outcome.result.selected_params,
        "calibration_method": outcome.result.calibration,
        "model_version": outcome.model_version,
        "run_id": outcome.run_id,
        "risk_vs_eventual": project_risk | {"intervals": intervals_end["project"]},
        "horizon_vs_horizon": project_horizon | {"intervals": intervals_hor["risk_within_horizon"]},
        "risk_vs_horizon": risk_vs_horizon | {"intervals": intervals_hor["risk"]},
        "horizon_auroc_gain_over_risk_interval": intervals_hor[
            "auroc_diff_risk_within_horizon_minus_risk"
        ]["auroc"],
        "ceiling_vs_eventual": ceiling_risk | {"intervals": intervals_end["ceiling"]},
        "ceiling_vs_horizon": ceiling_horizon,
        "same_clients_vs_eventual": same,
        "project_minus_notebook_auroc_interval": nb_diff,
        "notebook_error": nb_error,
        "notebook_dev_clients_only_error": nb_dev_error,
        "notebook_to_ceiling_gap_closed": gap_closed(
            same["project"]["auroc"], same["notebook"]["auroc"], same["ceiling"]["auroc"]
        ),
        "notebook_dev_clients_only_gap_closed": gap_closed(
            same["project"]["auroc"],
            same["notebook_dev_clients_only"]["auroc"],
            same["ceiling"]["auroc"],
        ),
        "backtest": backtest,
        "backtest_minus_truth_abs": differences,
        "criteria": criteria,
    }


# --------------------------------------------------------------------------- the table


def _f(value, digits: int = 3, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _ok(flag: bool | None) -> str:
    if flag is None:
        return "n/a"
    return "pass" if flag else "FAIL"


def markdown(clinics: list[dict]) -> str:
    """The per-clinic table and the interval table, in markdown."""
    head = [
        "clinic",
        "open scored",
        "AUROC project",
        "AUROC notebook",
        "AUROC ceiling",
        "gap closed",
        "risk slope",
        "risk CITL",
        "rwh AUROC (horizon)",
        "risk AUROC (horizon)",
        "rwh slope",
        "rwh CITL",
        "bt−truth AUROC",
        "bt−truth CITL",
        "bt−truth slope",
        "bt−truth rwh AUROC",
        "bt−truth rwh CITL",
        "bt−truth rwh slope",
        "risk calibrated",
        "rwh calibrated",
        "≥ notebook+0.02",
        "rwh ranks horizon better",
        "back-test risk ≈ truth",
        "back-test rwh ≈ truth",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in clinics:
        same, r, h, d, k = (
            c["same_clients_vs_eventual"],
            c["risk_vs_eventual"],
            c["horizon_vs_horizon"],
            c["backtest_minus_truth_abs"],
            c["criteria"],
        )
        row = [
            c["clinic"],
            f"{c['n_scored']}/{c['n_open_at_export']}",
            _f(same["project"]["auroc"]),
            _f(same["notebook"]["auroc"]),
            _f(same["ceiling"]["auroc"]),
            _f(c["notebook_to_ceiling_gap_closed"], 2),
            _f(r["cal_slope"]),
            _f(r["citl"], 3, signed=True),
            _f(h["auroc"]),
            _f(c["risk_vs_horizon"]["auroc"]),
            _f(h["cal_slope"]),
            _f(h["citl"], 3, signed=True),
            _f(d["risk_auroc"]),
            _f(d["risk_citl"]),
            _f(d["risk_cal_slope"]),
            _f(d["horizon_auroc"]),
            _f(d["horizon_citl"]),
            _f(d["horizon_cal_slope"]),
            _ok(k["risk_calibrated"]),
            _ok(k["horizon_calibrated"]),
            _ok(k["beats_notebook_by_0.02"]),
            _ok(k["horizon_ranks_better_than_risk"]),
            _ok(k["backtest_risk_matches_truth"]),
            _ok(k["backtest_horizon_matches_truth"]),
        ]
        lines.append("| " + " | ".join(row) + " |")

    def ci(pair) -> str:
        return f"{_f(pair[0])}–{_f(pair[1])}"

    lines += [
        "",
        "95% bootstrap intervals (200 resamples of the open caseload's clients); back-test "
        "figures as the training run logged them; ceiling = true probabilities.",
        "",
        "| clinic | AUROC project (CI) | project − notebook AUROC (CI) | slope (CI) | "
        "CITL (CI) | rwh AUROC (CI) | rwh slope (CI) | rwh CITL (CI) | rwh − risk AUROC "
        "on horizon (CI) | back-test AUROC / slope / CITL | back-test rwh AUROC / slope / "
        "CITL | ceiling slope / CITL | ceiling rwh AUROC / slope / CITL |",
        "|" + "---|" * 13,
    ]
    for c in clinics:
        r, h, b = c["risk_vs_eventual"], c["horizon_vs_horizon"], c["backtest"]
        ce, ch = c["ceiling_vs_eventual"], c["ceiling_vs_horizon"]
        same = c["same_clients_vs_eventual"]
        diff = same["project"]["auroc"] - same["notebook"]["auroc"]
        gain = h["auroc"] - c["risk_vs_horizon"]["auroc"]
        lines.append(
            f"| {c['clinic']} | {_f(r['auroc'])} ({ci(r['intervals']['auroc'])}) | "
            f"{_f(diff, 3, True)} ({ci(c['project_minus_notebook_auroc_interval'])}) | "
            f"{_f(r['cal_slope'])} ({ci(r['intervals']['cal_slope'])}) | "
            f"{_f(r['citl'], 3, True)} ({ci(r['intervals']['citl'])}) | "
            f"{_f(h['auroc'])} ({ci(h['intervals']['auroc'])}) | "
            f"{_f(h['cal_slope'])} ({ci(h['intervals']['cal_slope'])}) | "
            f"{_f(h['citl'], 3, True)} ({ci(h['intervals']['citl'])}) | "
            f"{_f(gain, 3, True)} ({ci(c['horizon_auroc_gain_over_risk_interval'])}) | "
            f"{_f(b['caseload_auroc'])} / {_f(b['caseload_calibration_slope'])} / "
            f"{_f(b['caseload_calibration_in_the_large'], 3, True)} | "
            f"{_f(b['caseload_horizon_auroc'])} / "
            f"{_f(b['caseload_horizon_calibration_slope'])} / "
            f"{_f(b['caseload_horizon_calibration_in_the_large'], 3, True)} | "
            f"{_f(ce['cal_slope'])} / {_f(ce['citl'], 3, True)} | "
            f"{_f(ch['auroc'])} / {_f(ch['cal_slope'])} / {_f(ch['citl'], 3, True)} |"
        )
    lines += [
        "",
        "| clinic | clients | open share | dropout rate among closed | open: eventual / "
        "60-day dropout rate | as of | champion | train min | notebook fitted on dev "
        "clients only: AUROC, gap closed |",
        "|" + "---|" * 9,
    ]
    for c in clinics:
        nb_dev = c["same_clients_vs_eventual"]["notebook_dev_clients_only"]
        lines.append(
            f"| {c['clinic']} | {c['n_clients']} | {c['open_share']:.1%} | "
            f"{c['dropout_rate_among_closed']:.1%} | {c['eventual_dropout_rate_open']:.1%} / "
            f"{c['horizon_dropout_rate_open']:.1%} | {c['as_of']} | "
            f"{c['selected_candidate']} ({c['calibration_method']}) | "
            f"{c['train_seconds'] / 60:.1f} | {_f(nb_dev['auroc'])}, "
            f"{_f(c['notebook_dev_clients_only_gap_closed'], 2)} |"
        )
    return "\n".join(lines) + "\n"


def _jsonable(value):
    """NaN and infinities as null, tuples as lists, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# --------------------------------------------------------------------------- main


def main() -> None:
    """Parse the arguments, run every chosen clinic, write the JSON and the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-clients", type=int, default=None, help="episodes per clinic")
    parser.add_argument("--profiles", default=None, help="comma-separated profile names")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_CLIENTS} clients, 2 profiles (smoke run)"
    )
    parser.add_argument("--n-boot", type=int, default=N_BOOT, help="bootstrap resamples")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders")
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep the other clinics' entries of the existing results (rerun some clinics)",
    )
    args = parser.parse_args()

    _quiet()
    from pipeline.synthetic import PROFILES

    names = list(PROFILES)
    if args.profiles:
        chosen = [p.strip() for p in args.profiles.split(",") if p.strip()]
    elif args.quick:
        chosen = list(QUICK_PROFILES)
    else:
        chosen = names
    unknown = [p for p in chosen if p not in PROFILES]
    if unknown:
        parser.error(f"unknown profile(s) {unknown}; choose from {names}")
    n_clients = args.n_clients or (QUICK_CLIENTS if args.quick else FULL_CLIENTS)

    work = Path(tempfile.mkdtemp(prefix="dropout-clinics-"))
    print(
        f"clinics benchmark: {', '.join(chosen)}; {n_clients} clients each; scratch {work}",
        flush=True,
    )
    started = time.perf_counter()
    clinics, crashes = [], []
    for name in chosen:
        clinic_started = time.perf_counter()
        try:
            clinics.append(run_clinic(name, names.index(name), n_clients, work, args.n_boot))
        except Exception as exc:  # one clinic's crash must not lose the others' figures
            import traceback

            crashes.append(
                {"clinic": name, "error": repr(exc), "traceback": traceback.format_exc()}
            )
            _say(name, f"CRASHED: {exc!r}")
            traceback.print_exc()
        finally:
            os.chdir(ROOT)  # leave the folder before it is removed
            if not args.keep:
                shutil.rmtree(work / name, ignore_errors=True)
        _say(name, f"done in {(time.perf_counter() - clinic_started) / 60:.1f} min")
    total = time.perf_counter() - started
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)

    settings_note = None
    if args.update and RESULTS.exists():
        # a rerun of some clinics (e.g. after a fix elsewhere) keeps the rest of the last
        # full run; each entry carries its own n_clients and seed, so the mix stays legible
        previous = json.loads(RESULTS.read_text(encoding="utf-8"))
        fresh = {c["clinic"] for c in clinics}
        kept = [c for c in previous.get("clinics", []) if c["clinic"] not in fresh]
        clinics = sorted(kept + clinics, key=lambda c: names.index(c["clinic"]))
        settings_note = (
            f"updated {', '.join(sorted(fresh))}; other clinics from the earlier run "
            f"(total_seconds {previous.get('total_seconds')})"
        )
    results = {
        "machine": {
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "settings": {
            "n_clients": n_clients,
            "profiles": chosen,
            "quick": bool(args.quick),
            "n_boot": args.n_boot,
            "ceiling_draws": CEILING_DRAWS,
            "seed_base": SEED_BASE,
            "update": settings_note,
            "criteria": {
                "slope_range": list(SLOPE_RANGE),
                "citl_limit": CITL_LIMIT,
                "notebook_margin": NOTEBOOK_MARGIN,
                "backtest_auroc_limit": BACKTEST_AUROC_LIMIT,
                "backtest_citl_limit": BACKTEST_CITL_LIMIT,
                "backtest_slope_limit": BACKTEST_SLOPE_LIMIT,
            },
        },
        "total_seconds": total,
        "clinics": clinics,
        "crashes": crashes,
    }
    RESULTS.write_text(json.dumps(_jsonable(results), indent=2), encoding="utf-8")
    table = markdown(clinics) if clinics else "no clinic finished\n"
    header = (
        f"Clinics benchmark ({n_clients} clients per clinic, {platform.machine()}, "
        f"{os.cpu_count()} cores; {total / 60:.1f} min in all). rwh = risk_within_horizon; "
        "bt−truth = |back-test figure − figure on the open caseload at export|; CITL = "
        "observed rate − mean predicted.\n\n"
    )
    TABLE.write_text(header + table, encoding="utf-8")
    print()
    print(header + table, end="")
    print(f"wrote {RESULTS} and {TABLE} in {total / 60:.1f} min", flush=True)
    if crashes:
        sys.exit(1)


if __name__ == "__main__":
    main()
