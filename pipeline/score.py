"""`dropout-risk score`: the active caseload as of a date → the ranked, explained risk list."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.labels import active_mask
from features.landmarks import asof_examples, model_inputs
from models.reasons import top_reasons
from pipeline.config import Config, FeaturesConfig, InstrumentsConfig
from pipeline.errors import InputError, RejectedRowsError
from pipeline.ingest import read_table
from pipeline.output import write_table
from pipeline.tracking import LoadedModel, default_model_uri, load_risk_model
from pipeline.validation import ValidatedTables, validate_tables

RISK_LIST_COLUMNS = [
    "client_id",
    "therapist_id",
    "site",
    "risk",
    "risk_tier",
    "rank",
    "reason_1",
    "reason_2",
    "reason_3",
    "sessions_attended",
    "last_attended",
    "scored",
    "not_scored_reason",
    "model_version",
]
REJECTED_COLUMNS = ["file", "row", "column", "value", "reason"]
NO_APPOINTMENTS = "no appointments before the as-of date"


@dataclass(frozen=True)
class ScoreOutcome:
    risk_list: pd.DataFrame
    out_path: Path | None
    rejected_path: Path
    n_rejected_rows: int
    as_of: pd.Timestamp
    model_version: str
    extra_columns: dict


def rejected_path_for(out: Path) -> Path:
    """``<out stem>.rejected.csv`` beside the output (CONTRACT.md)."""
    out = Path(out)
    return out.with_name(f"{out.stem}.rejected.csv")


def assign_tiers(risk: pd.Series, high: float, medium: float) -> pd.Series:
    """``high`` / ``medium`` / ``low`` from probability thresholds; empty when not scored."""
    tier = np.select(
        [risk >= high, risk >= medium, risk.notna()], ["high", "medium", "low"], default=""
    )
    return pd.Series(tier, index=risk.index)


def build_risk_list(
    tables: ValidatedTables, loaded: LoadedModel, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Score every active client; list the ones that cannot be scored with the reason.

    Pure apart from the model: tables and model in, risk list out.
    """
    model = loaded.model
    settings = model.feature_settings
    instruments = InstrumentsConfig.model_validate(settings["instruments"])
    features = FeaturesConfig.model_validate(settings["features"])
    clients = tables.clients
    active = active_mask(clients)
    active_clients = clients[active.to_numpy()]
    active_ids = active_clients["client_id"]
    sessions = tables.sessions[tables.sessions["client_id"].isin(active_ids)]
    examples = asof_examples(active_clients, sessions, as_of, instruments, features)
    examples = examples.set_index("client_id", drop=False)
    X = model_inputs(examples)
    if len(X):
        probability, contributions = model.predict_and_explain(X)
        risk = pd.Series(probability, index=X.index)
        # the learnt history values and the overall rate, for the reasons' wording
        examples = examples.join(model.history.transform(X))
        examples["ctx_history_prior"] = model.history.prior_
        reasons = top_reasons(examples, contributions, settings)
    else:
        risk = pd.Series(dtype=float)
        reasons = pd.DataFrame(columns=["reason_1", "reason_2", "reason_3"])

    base = active_clients[["client_id", "therapist_id", "site"]].copy()
    base = base.set_index("client_id", drop=False)
    base["risk"] = risk.reindex(base.index)
    scored = base["risk"].notna()
    base["scored"] = scored
    base["not_scored_reason"] = np.where(scored, "", NO_APPOINTMENTS)
    for col in ("reason_1", "reason_2", "reason_3"):
        base[col] = reasons[col].reindex(base.index).fillna("") if len(reasons) else ""
    base["sessions_attended"] = examples["attended"].reindex(base.index).fillna(0).astype(int)
    last = examples["last_attended_date"].reindex(base.index)
    base["last_attended"] = last.dt.strftime("%Y-%m-%d").fillna("")

    # clients whose own row was rejected are still accounted for (CONTRACT.md: nothing dropped)
    rejected = tables.rejected_clients
    if len(rejected):
        rejected = rejected[rejected["active"] & ~rejected["client_id"].isin(base.index)]
        rejected = rejected.drop_duplicates("client_id")
        extra = pd.DataFrame(
            {
                "client_id": rejected["client_id"].to_numpy(),
                "therapist_id": rejected["therapist_id"].to_numpy(),
                "site": rejected["site"].to_numpy(),
                "risk": np.nan,
                "scored": False,
                "not_scored_reason": rejected["reason"].to_numpy(),
                "reason_1": "",
                "reason_2": "",
                "reason_3": "",
                "sessions_attended": 0,
                "last_attended": "",
            }
        )
        base = pd.concat([base.reset_index(drop=True), extra], ignore_index=True)
    base = base.reset_index(drop=True)
    # round first, so the tier agrees with the risk as written (0.399996 is listed as 0.4: high)
    base["risk"] = base["risk"].astype(float).round(4)
    tiers = settings["tiers"]
    base["risk_tier"] = assign_tiers(base["risk"], tiers["high"], tiers["medium"])
    base = base.sort_values(
        ["scored", "risk", "client_id"], ascending=[False, False, True], kind="stable"
    )
    base["rank"] = np.arange(1, len(base) + 1)
    base["model_version"] = loaded.version_label
    return base[RISK_LIST_COLUMNS].reset_index(drop=True)


def rejected_rows(tables: ValidatedTables) -> pd.DataFrame:
    """The rejection report: file, row, column, value and reason of every problem."""
    if not len(tables.issues):
        return pd.DataFrame(columns=REJECTED_COLUMNS)
    return tables.issues[REJECTED_COLUMNS].reset_index(drop=True)


def run_scoring(
    clients_path: Path,
    sessions_path: Path,
    out: Path,
    config: Config,
    *,
    as_of: str | None = None,
    model_uri: str | None = None,
    strict: bool = False,
) -> ScoreOutcome:
    """Read, validate, score and write the risk list and its rejection report.

    Raises
    ------
    InputError
        Inputs unusable or no model (exit 2).
    RejectedRowsError
        ``strict`` and rows were rejected; only the rejection report was written (exit 3).
    """
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise InputError(f"{out}: unknown output format. Fix: end --out in .csv or .parquet.")
    loaded = load_risk_model(model_uri or default_model_uri(config), config)
    instruments = InstrumentsConfig.model_validate(loaded.model.feature_settings["instruments"])
    clients_raw = read_table(Path(clients_path), role="clients")
    sessions_raw = read_table(Path(sessions_path), role="sessions")
    tables = validate_tables(
        clients_raw,
        sessions_raw,
        instruments,
        clients_file=Path(clients_path).name,
        sessions_file=Path(sessions_path).name,
    )
    rejected = rejected_rows(tables)
    rejected_path = rejected_path_for(out)
    write_table(rejected, rejected_path)
    n_rejected = int(rejected[["file", "row"]].drop_duplicates().shape[0]) if len(rejected) else 0
    if strict and n_rejected:
        raise RejectedRowsError(
            f"{n_rejected} input rows were rejected (--strict): see {rejected_path}. "
            "Fix: correct them, or run without --strict to score the rest."
        )
    if as_of is None:
        if not len(tables.sessions):
            raise InputError(
                f"{Path(sessions_path).name}: no usable appointments, so there is no default as-of date. Fix: pass --as-of YYYY-MM-DD."
            )
        as_of_ts = tables.sessions["session_date"].max()
    else:
        as_of_ts = pd.to_datetime(as_of, format="ISO8601", errors="coerce")
        if pd.isna(as_of_ts):
            raise InputError(f"--as-of {as_of!r} is not a date. Fix: use YYYY-MM-DD.")
        as_of_ts = as_of_ts.normalize()
    risk_list = build_risk_list(tables, loaded, as_of_ts)
    write_table(risk_list, out)
    return ScoreOutcome(
        risk_list=risk_list,
        out_path=out,
        rejected_path=rejected_path,
        n_rejected_rows=n_rejected,
        as_of=as_of_ts,
        model_version=loaded.version_label,
        extra_columns=tables.extra_columns,
    )
