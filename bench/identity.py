"""Same cohort, same outputs: fingerprints of what the demo path writes.

Runs ``dropout-risk demo`` (the command line, so it measures the tool and not its module
layout) on a fixed synthetic cohort in a scratch folder with its own tracking store, and
fingerprints what a user gets:

* the risk list (``risk_list.csv``), byte for byte;
* the training run's metrics as MLflow stored them, except the durations;
* the risk page, the evaluation report and the model card, with the parts that differ
  between any two runs of the same code (run ids, timestamps, durations, the scratch
  folder's path) blanked out.

Usage::

    python bench/identity.py            # write bench/identity.json
    python bench/identity.py --check    # exit 1 when a fingerprint differs from it

A restructuring that changes no behaviour leaves every fingerprint as it was.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "identity.json"
N_CLIENTS = 800
SEED = 11

# what legitimately differs between two runs of the same code on the same data
VOLATILE = [
    (re.compile(r"\b[0-9a-f]{32}\b"), "<run-id>"),
    (
        re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?( ?UTC|Z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (re.compile(r"\b\d+(\.\d+)? ?(s|min|seconds|minutes)\b"), "<duration>"),
]
CLI = "from pipeline.cli import app; app()"
DURATION_METRICS = re.compile(r"seconds|minutes|_time|duration")


def _normalised(text: str, scratch: Path) -> str:
    text = text.replace(str(scratch), "<scratch>")
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprints(dump: Path | None = None) -> dict[str, str]:
    """Run the demo on the fixed cohort and fingerprint its outputs (``dump``: also write
    the normalised texts there, to see what differs)."""
    with tempfile.TemporaryDirectory(prefix="dropout-identity-") as tmp:
        scratch = Path(tmp)
        config = scratch / "config.yaml"
        # the store comes from the environment so that the configuration (and its hash
        # in the model card) does not hold the scratch folder's path
        config.write_text(f"synth:\n  n_clients: {N_CLIENTS}\n  seed: {SEED}\n", encoding="utf-8")
        env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{scratch / 'mlflow.db'}")
        env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
        # this checkout's code, whatever else is installed
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        subprocess.run(
            [
                sys.executable,
                "-c",
                CLI,
                "demo",
                "--out",
                str(scratch / "out"),
                "--config",
                str(config),
            ],
            cwd=scratch,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        out = scratch / "out"
        found = {
            "risk_list.csv": _digest((out / "risk_list.csv").read_bytes()),
            "risk.html": _digest(
                _normalised((out / "risk.html").read_text("utf-8"), scratch).encode()
            ),
        }
        report = out / "evaluation" / "report.html"
        found["evaluation/report.html"] = _digest(
            _normalised(report.read_text("utf-8"), scratch).encode()
        )
        cards = sorted(scratch.rglob("model_card.html"))
        if not cards:
            raise SystemExit("no model_card.html among the run's artifacts")
        found["model_card.html"] = _digest(
            _normalised(cards[0].read_text("utf-8"), scratch).encode()
        )
        found["model_card.md"] = _digest(
            _normalised(cards[0].with_suffix(".md").read_text("utf-8"), scratch).encode()
        )
        metrics = json.dumps(_metrics(scratch), sort_keys=True, indent=0)
        found["metrics"] = _digest(metrics.encode())
        if dump is not None:
            dump.mkdir(parents=True, exist_ok=True)
            (dump / "metrics.json").write_text(metrics, encoding="utf-8")
            (dump / "risk_list.csv").write_bytes((out / "risk_list.csv").read_bytes())
            for name, path in [
                ("risk.html", out / "risk.html"),
                ("report.html", report),
                ("model_card.html", cards[0]),
                ("model_card.md", cards[0].with_suffix(".md")),
            ]:
                text = _normalised(path.read_text("utf-8"), scratch)
                (dump / name).write_text(text, encoding="utf-8")
    return found


def _metrics(scratch: Path) -> dict[str, float]:
    """The first training run's metrics, durations left out."""
    import sqlite3

    with sqlite3.connect(scratch / "mlflow.db") as db:
        run = db.execute("SELECT run_uuid FROM runs ORDER BY start_time LIMIT 1").fetchone()[0]
        rows = db.execute(
            "SELECT key, value FROM latest_metrics WHERE run_uuid = ?", (run,)
        ).fetchall()
    return {k: round(float(v), 12) for k, v in rows if not DURATION_METRICS.search(k)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with bench/identity.json")
    parser.add_argument("--dump", type=Path, help="also write the normalised outputs here")
    args = parser.parse_args()
    found = fingerprints(args.dump)
    if not args.check:
        RESULTS.write_text(
            json.dumps(
                {"cohort": {"n_clients": N_CLIENTS, "seed": SEED}, "fingerprints": found},
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        print(f"wrote {RESULTS.relative_to(ROOT)}")
        return
    expected = json.loads(RESULTS.read_text(encoding="utf-8"))["fingerprints"]
    differ = [name for name in expected if expected[name] != found.get(name)]
    for name in expected:
        print(f"{'same' if name not in differ else 'DIFFERS'}  {name}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
