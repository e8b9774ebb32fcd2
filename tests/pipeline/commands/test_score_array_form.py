"""`score` reads the champion's array form: the same risk list, without scikit-learn or skops.

Reuses the session's ``trained`` model (conftest.py); nothing trains again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

from models.array_model import ArrayRiskModel
from models.caseload import score_caseload
from models.risk_model import RiskModel
from pipeline.commands.inputs import load_inputs
from pipeline.registry.tracking import default_model_uri, load_risk_model


def test_the_array_form_gives_the_risk_list_and_details_of_the_skops_model(trained):
    cfg = trained["config"]
    uri = default_model_uri(cfg)
    arrays, full = load_risk_model(uri, cfg, scoring=True), load_risk_model(uri, cfg)
    assert isinstance(arrays.model, ArrayRiskModel) and isinstance(full.model, RiskModel)
    tables = load_inputs(trained["clients"], trained["sessions"], cfg)
    as_of = tables.sessions["session_date"].max()
    since = as_of - pd.Timedelta(days=28)
    with_arrays, with_skops = (
        score_caseload(
            tables, loaded, as_of, cfg.scoring.tiers, details=True, drift=cfg.drift, since=since
        )
        for loaded in (arrays, full)
    )
    listed = with_skops.risk_list
    assert listed["scored"].sum() > 50 and listed["reason_1"].ne("").sum() > 50
    pd.testing.assert_frame_equal(with_arrays.risk_list, listed)
    assert with_arrays.details == with_skops.details
    assert with_arrays.drift.to_dict() == with_skops.drift.to_dict()


def test_a_score_run_imports_neither_scikit_learn_nor_skops(trained, tmp_path):
    out = tmp_path / "risk.csv"
    program = (
        "import json, sys\n"
        "from pipeline.cli import app\n"
        "try:\n"
        f"    app({['score', '--clients', str(trained['clients']), '--sessions', str(trained['sessions']), '--out', str(out)]!r})\n"
        "except SystemExit as stop:\n"
        "    assert not stop.code, stop.code\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'skops'})))\n"
    )
    env = dict(os.environ, MLFLOW_TRACKING_URI=trained["uri"])
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env=env,
        cwd=trained["root"],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    listed = pd.read_csv(out, dtype="str", keep_default_na=False)
    clients = pd.read_csv(trained["clients"], dtype="str", keep_default_na=False)
    active = clients[clients["discharge_date"].eq("") & clients["discharge_reason"].eq("")]
    assert sorted(listed["client_id"]) == sorted(active["client_id"])
