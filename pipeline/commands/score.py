"""`dropout-risk score`: the active caseload as of a date → the ranked, explained risk list."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from configs.config import Config, DriftConfig, FeaturesConfig, InstrumentsConfig, TiersConfig
from configs.errors import InputError, RejectedRowsError
from features.drift import DriftReport, compare
from features.labels import active_mask
from features.landmarks import appointment_prefix, asof_examples, model_inputs
from features.schema import ALLIANCE_SCALES
from models.reasons import RowReader, reason_templates, top_reasons
from pipeline.contract.validation import ValidatedTables, validate_tables
from pipeline.io.ingest import read_table
from pipeline.io.output import TABLE_SUFFIXES, write_table, write_text
from pipeline.registry.tracking import LoadedModel, default_model_uri, load_risk_model

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
    "risk_within_horizon",
]
REJECTED_COLUMNS = ["file", "row", "column", "value", "reason"]
NO_APPOINTMENTS = "no appointments before the as-of date"


# contributions smaller than this (in percentage points) are left out of a client's detail
MIN_DETAIL_POINTS = 0.1


@dataclass(frozen=True)
class ScoreOutcome:
    risk_list: pd.DataFrame
    out_path: Path | None
    rejected_path: Path
    n_rejected_rows: int
    as_of: pd.Timestamp
    model_version: str
    extra_columns: dict
    # for the risk page: each scored client's trajectory and full explanation, the
    # tier rule in words and the rating scales
    details: dict = field(default_factory=dict)
    tier_rule: str = ""
    scales: dict = field(default_factory=dict)
    # the batch against the model's training summary (None: the model has no summary)
    drift: DriftReport | None = None
    drift_path: Path | None = None


@dataclass(frozen=True)
class Caseload:
    """The scored caseload: the risk list and, per scored client, what the page shows."""

    risk_list: pd.DataFrame
    details: dict
    drift: DriftReport | None = None


def parse_as_of(text: str, name: str) -> pd.Timestamp:
    """An as-of date (a time part is ignored); ``name`` is how the caller calls it."""
    stamp = pd.to_datetime(str(text), format="ISO8601", errors="coerce")
    if pd.isna(stamp):
        raise InputError(f"{name} {text!r} is not a date. Fix: use YYYY-MM-DD.")
    return stamp.normalize()


def default_as_of(sessions: pd.DataFrame, sessions_file: str, today=None) -> pd.Timestamp:
    """The latest appointment date, unless it lies after today (a typo, e.g. 2099).

    One mistyped year would otherwise score the whole caseload as of that year, with
    every client's time since the last session counted up to it.

    Raises
    ------
    InputError
        When the latest appointment is after today, naming its row, with the fix.
    """
    today = pd.Timestamp.now().normalize() if today is None else pd.Timestamp(today)
    dates = sessions["session_date"]
    latest = dates.max()
    if latest > today:
        at = dates.idxmax()
        row = sessions.loc[at, "row"] if "row" in sessions else at + 1
        raise InputError(
            f"{sessions_file}: row {row}, column session_date: {latest:%Y-%m-%d} is after "
            f"today ({today:%Y-%m-%d}), so the latest appointment cannot be the default as-of "
            "date. Fix: correct that date, or pass --as-of YYYY-MM-DD to score as of a date."
        )
    return latest


def rejected_path_for(out: Path) -> Path:
    """``<out stem>.rejected.csv`` beside the output (CONTRACT.md)."""
    out = Path(out)
    return out.with_name(f"{out.stem}.rejected.csv")


def assign_tiers(risk: pd.Series, high: float, medium: float) -> pd.Series:
    """Tiers by probability thresholds; empty where not scored."""
    tier = np.select(
        [risk >= high, risk >= medium, risk.notna()], ["high", "medium", "low"], default=""
    )
    return pd.Series(tier, index=risk.index)


def assign_capacity_tiers(
    risk: pd.Series, site: pd.Series, client_id: pd.Series, high: int, medium: int
) -> pd.Series:
    """Tiers by capacity: the ``high`` highest risks at each site, then the next ``medium``.

    Ties are broken by client id so the tiers do not depend on row order; clients with no
    site form one group; unscored clients get no tier.
    """
    frame = pd.DataFrame(
        {"risk": risk, "site": site.fillna("").astype(str), "client_id": client_id.astype(str)}
    )
    scored = frame[frame["risk"].notna()].sort_values(
        ["site", "risk", "client_id"], ascending=[True, False, True], kind="stable"
    )
    place = scored.groupby("site", sort=False).cumcount()
    tier = pd.Series("", index=frame.index, dtype=object)
    tier.loc[scored.index] = np.where(
        place < high, "high", np.where(place < high + medium, "medium", "low")
    )
    return tier


def _tiers(base: pd.DataFrame, tiers) -> pd.Series:
    if tiers.rule == "capacity":
        return assign_capacity_tiers(
            base["risk"],
            base["site"],
            base["client_id"],
            tiers.high_per_site,
            tiers.medium_per_site,
        )
    return assign_tiers(base["risk"], tiers.high, tiers.medium)


def _trajectories(
    clients: pd.DataFrame, sessions: pd.DataFrame, instruments, features
) -> dict[str, list[dict]]:
    """Each client's appointments in date order with their own ratings and ruptures."""
    if not len(sessions):
        return {}
    rows = appointment_prefix(clients, sessions, instruments, features, keep_ratings=True)
    by = rows["client_id"]
    frame = pd.DataFrame(
        {
            "date": rows["session_date"].dt.strftime("%Y-%m-%d"),
            "status": rows["status"],
            "session": rows["session_number"],
        }
    )
    rupture_cols = {}
    for scale in ALLIANCE_SCALES:
        frame[scale] = rows[f"rated_{scale}"].round(2)
        # the cumulative count rises exactly at the session with the rupture
        count = rows[f"{scale}_ruptures"].fillna(0)
        rupture_cols[scale] = count.groupby(by, sort=False).diff().fillna(count) > 0
    ruptures = pd.DataFrame(rupture_cols)
    out: dict[str, list[dict]] = {}
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    flags = ruptures.to_numpy()
    for i, (client, record) in enumerate(zip(by.to_numpy(), records, strict=True)):
        if record["session"] is not None:
            record["session"] = int(record["session"])
        record["ruptures"] = [s for s, hit in zip(ALLIANCE_SCALES, flags[i], strict=True) if hit]
        out.setdefault(client, []).append(record)
    return out


def _explanations(
    examples: pd.DataFrame, points: pd.DataFrame, settings: dict
) -> dict[str, list[dict]]:
    """Every feature's contribution in percentage points, largest first, in words."""
    templates = reason_templates(settings)
    names = np.array(points.columns)
    values = points.to_numpy()
    order = np.argsort(-np.abs(values), axis=1, kind="stable")
    records = RowReader(examples)
    out = {}
    for i, client in enumerate(examples.index):
        # features that read the same (e.g. three ORS features of a client with no ORS
        # yet) are one line for the reader, with their points added up
        merged: dict[str, dict] = {}
        for j in order[i]:
            if abs(values[i, j]) < MIN_DETAIL_POINTS:
                break
            words = templates[names[j]](records[i])
            item = merged.setdefault(words, {"feature": names[j], "words": words, "points": 0.0})
            item["points"] += float(values[i, j])
        items = [item | {"points": round(item["points"], 1)} for item in merged.values()]
        items = [item for item in items if abs(item["points"]) >= MIN_DETAIL_POINTS]
        out[client] = sorted(items, key=lambda item: -abs(item["points"]))
    return out


def drift_path_for(out: Path) -> Path:
    """``<out stem>.drift.json`` beside the output: the drift check of the batch."""
    out = Path(out)
    return out.with_name(f"{out.stem}.drift.json")


def batch_drift(model, X: pd.DataFrame, drift: DriftConfig) -> DriftReport | None:
    """The scored rows' feature distributions against the model's stored training summary."""
    profile = getattr(model, "drift_profile_", None)
    if not profile:
        return None
    return compare(
        profile,
        X,
        psi_moved=drift.psi_moved,
        psi_alarm=drift.psi_alarm,
        missing_alarm=drift.missing_alarm,
        min_rows=drift.min_rows,
        significance=drift.significance,
    )


def horizon_risk(model, X: pd.DataFrame, risk: np.ndarray) -> np.ndarray:
    """``risk_within_horizon`` for the rows (NaN for a model trained before it existed)."""
    if not hasattr(model, "horizon_pipeline_"):
        return np.full(len(X), np.nan)
    return model.predict_horizon(X, risk)


def build_risk_list(
    tables: ValidatedTables, loaded: LoadedModel, as_of: pd.Timestamp, tiers=None
) -> pd.DataFrame:
    """Score every active client; list the ones that cannot be scored with the reason.

    Pure apart from the model: tables and model in, risk list out. ``tiers`` is the
    config's ``TiersConfig`` (default: the thresholds the model was trained with).
    """
    return score_caseload(tables, loaded, as_of, tiers, details=False).risk_list


def score_caseload(
    tables: ValidatedTables,
    loaded: LoadedModel,
    as_of: pd.Timestamp,
    tiers=None,
    *,
    details: bool = True,
    drift: DriftConfig | None = None,
) -> Caseload:
    """The risk list and, with ``details``, each scored client's trajectory and explanation.

    With ``drift`` (the config's thresholds), the batch is also compared with the model's
    training summary.
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
    drift_report = batch_drift(model, X, drift) if drift is not None else None
    detail: dict[str, dict] = {}
    if len(X):
        probability, contributions, base_value = model.predict_and_explain(X, with_base=True)
        risk = pd.Series(probability, index=X.index)
        soon = pd.Series(horizon_risk(model, X, probability), index=X.index)
        # the learnt history values and the overall rate, for the reasons' wording
        examples = examples.join(model.history.transform(X))
        examples["ctx_history_prior"] = model.history.prior_
        reasons = top_reasons(examples, contributions, settings)
        if details:
            points = model.probability_points(contributions, base_value)
            explained = _explanations(examples, points, settings)
            known = sessions[sessions["session_date"] <= as_of]
            scored_clients = active_clients[active_clients["client_id"].isin(X.index)]
            paths = _trajectories(scored_clients, known, instruments, features)
            detail = {
                client: {"trajectory": paths.get(client, []), "explanation": explained[client]}
                for client in X.index
            }
    else:
        risk = pd.Series(dtype=float)
        soon = pd.Series(dtype=float)
        reasons = pd.DataFrame(columns=["reason_1", "reason_2", "reason_3"])

    base = active_clients[["client_id", "therapist_id", "site"]].copy()
    base = base.set_index("client_id", drop=False)
    base["risk"] = risk.reindex(base.index)
    base["risk_within_horizon"] = soon.reindex(base.index)
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
                "risk_within_horizon": np.nan,
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
    # rounded after the cap, so the written value never exceeds the written risk
    base["risk_within_horizon"] = np.minimum(
        base["risk_within_horizon"].astype(float).round(4), base["risk"]
    )
    tiers = tiers if tiers is not None else TiersConfig.model_validate(settings["tiers"])
    base["risk_tier"] = _tiers(base, tiers)
    base = base.sort_values(
        ["scored", "risk", "client_id"], ascending=[False, False, True], kind="stable"
    )
    base["rank"] = np.arange(1, len(base) + 1)
    base["model_version"] = loaded.version_label
    return Caseload(
        risk_list=base[RISK_LIST_COLUMNS].reset_index(drop=True),
        details=detail,
        drift=drift_report,
    )


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
    details: bool = True,
) -> ScoreOutcome:
    """Read, validate, score and write the risk list and its rejection report.

    ``details`` also builds each scored client's trajectory and full explanation, which
    only the HTML page shows (``ScoreOutcome.details``); a batch job without a page
    passes False and saves most of the time per client.

    Raises
    ------
    InputError
        Inputs unusable or no model (exit 2).
    RejectedRowsError
        ``strict`` and rows were rejected; only the rejection report was written (exit 3).
    """
    out = Path(out)
    if out.suffix.lower() not in TABLE_SUFFIXES:
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
        as_of_ts = default_as_of(tables.sessions, Path(sessions_path).name)
    else:
        as_of_ts = parse_as_of(as_of, "--as-of")
    caseload = score_caseload(
        tables, loaded, as_of_ts, config.scoring.tiers, details=details, drift=config.drift
    )
    risk_list = caseload.risk_list
    write_table(risk_list, out)
    drift_file = None
    if caseload.drift is not None:
        drift_file = write_text(json.dumps(caseload.drift.to_dict(), indent=2), drift_path_for(out))
    return ScoreOutcome(
        risk_list=risk_list,
        out_path=out,
        rejected_path=rejected_path,
        n_rejected_rows=n_rejected,
        as_of=as_of_ts,
        model_version=loaded.version_label,
        extra_columns=tables.extra_columns,
        details=caseload.details,
        tier_rule=config.scoring.tiers.describe(),
        drift=caseload.drift,
        drift_path=drift_file,
        scales={
            "wai": [instruments.wai.min, instruments.wai.max],
            "srs": [instruments.srs.total_min, instruments.srs.total_max],
            "srs_cutoff": instruments.srs.cutoff,
        },
    )
