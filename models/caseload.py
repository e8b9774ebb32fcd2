"""The caseload scorer: every active client of an export scored as of a date, explained.

Pure apart from the model: validated tables and a loaded model in, the risk list (the
contract's columns, CONTRACT.md) and each scored client's trajectory and explanation out.
Reading the exports and writing the list happen in ``pipeline.commands.score``; the served
model (``pipeline.registry.serving``) calls the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from configs.config import DriftConfig
from configs.errors import InputError
from features.ids import among, rows_of
from features.labels import active_mask
from features.landmarks import appointment_prefix, asof_examples, model_inputs
from features.schema import ALLIANCE_SCALES, HISTORY_FEATURES
from models.changes import NEW_CLIENT, change_reasons
from models.drift import DriftReport, compare
from models.memory import give_back
from models.reasons import RowReader, reason_templates, top_reasons
from models.tiers import tiers_of

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
# with `score --since DATE` (CONTRACT.md): what changed since DATE
SINCE_COLUMNS = ["risk_change", "tier_since", "change_reason"]
NO_APPOINTMENTS = "no appointments before the as-of date"
# contributions smaller than this (in percentage points) are left out of a client's detail
MIN_DETAIL_POINTS = 0.1
# from this many appointments on, freed memory is given back between the stages
GIVE_BACK_APPOINTMENTS = 20_000


class Tables(Protocol):
    """What the scorer reads of validated tables (``pipeline.contract``'s ``ValidatedTables``)."""

    clients: pd.DataFrame
    sessions: pd.DataFrame
    rejected_clients: pd.DataFrame


class Scorer(Protocol):
    """A loaded model and the label its risk lists carry (``pipeline.registry``'s ``LoadedModel``)."""

    model: object
    version_label: str


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


def horizon_risk(model, X: pd.DataFrame, risk: np.ndarray, features=None) -> np.ndarray:
    """``risk_within_horizon`` for the rows (NaN for a model trained before it existed)."""
    if not model.has_horizon:
        return np.full(len(X), np.nan)
    return model.predict_horizon(X, risk, features=features)


def score_caseload(
    tables: Tables,
    loaded: Scorer,
    as_of: pd.Timestamp,
    tiers=None,
    *,
    details: bool = True,
    drift: DriftConfig | None = None,
    since: pd.Timestamp | None = None,
) -> Caseload:
    """The risk list and, with ``details``, each scored client's trajectory and explanation.

    With ``drift`` (the config's thresholds), the batch is also compared with the model's
    training summary. With ``since`` (a date before ``as_of``), the same caseload is also
    scored as of ``since``, histories cut there, and the list gains ``SINCE_COLUMNS``.

    A caller that hands over its only reference to ``tables`` (the batch command does)
    lets the appointments go once their features are built, unless ``details`` or
    ``since`` reads them again: at 200,000 clients they are a quarter of the live memory
    when the reasons are worded.
    """
    model = loaded.model
    settings = model.feature_settings
    stored = model.settings
    instruments, features = stored.instruments, stored.features
    clients, rejected = tables.clients, tables.rejected_clients
    active = active_mask(clients)
    active_clients = clients[active.to_numpy()]
    active_ids = active_clients["client_id"]
    sessions = rows_of(tables.sessions, among(tables.sessions["client_id"], active_ids))
    del tables, clients
    # giving memory back costs milliseconds (6 on a fragmented 160 MB heap, as a served
    # model's worker may hold): only a large caseload's stages free enough to be worth it
    large = len(sessions) >= GIVE_BACK_APPOINTMENTS
    examples = asof_examples(active_clients, sessions, as_of, instruments, features)
    examples = examples.set_index("client_id", drop=False)
    if not details and since is None:
        sessions = None  # not read again
    if large:
        give_back()  # what the features were built with goes to the model and the reasons
    X = model_inputs(examples)
    index = X.index
    drift_report = batch_drift(model, X, drift) if drift is not None else None
    detail: dict[str, dict] = {}
    if len(index):
        # every model feature (the learnt history ones too), built once for all three uses
        model_features = model.features(X)
        probability, contributions, base_value = model.predict_and_explain(
            X, with_base=True, features=model_features
        )
        risk = pd.Series(probability, index=index)
        soon = pd.Series(horizon_risk(model, X, probability, model_features), index=index)
        # the learnt history values and the overall rate, for the reasons' wording (the
        # rows are the examples' own, in their order)
        examples = examples.assign(
            **{name: model_features[name].to_numpy() for name in HISTORY_FEATURES},
            ctx_history_prior=model.history.prior_,
        )
        del X, model_features  # used up: their memory goes to the reasons
        if large:
            give_back()
        reasons = top_reasons(examples, contributions, settings)
        context = reasons["context"] if "context" in reasons else pd.Series("", index=index)
        if details:
            points = model.probability_points(contributions, base_value)
            explained = _explanations(examples, points, settings)
            known = sessions[sessions["session_date"] <= as_of]
            scored_clients = active_clients[among(active_clients["client_id"], index)]
            paths = _trajectories(scored_clients, known, instruments, features)
            detail = {
                client: {
                    "trajectory": paths.get(client, []),
                    "explanation": explained[client],
                    "context": context.get(client, ""),
                }
                for client in index
            }
    else:
        risk = pd.Series(dtype=float)
        soon = pd.Series(dtype=float)
        contributions = pd.DataFrame()
        reasons = pd.DataFrame(columns=["reason_1", "reason_2", "reason_3"])

    # each active client's scored row (one per client: ids are unique once validated)
    at = pd.Index(index).get_indexer(active_ids) if len(index) else np.full(len(active_ids), -1)
    found = at >= 0

    def picked(values, fill, dtype=None) -> np.ndarray:
        values = np.asarray(values, dtype=dtype)
        out = np.full(len(at), fill, dtype=values.dtype if dtype is None else dtype)
        out[found] = values[at[found]]
        return out

    risk_of = picked(risk.to_numpy(dtype=float), np.nan)
    scored = ~np.isnan(risk_of)
    last = examples["last_attended_date"]
    base = pd.DataFrame(
        {
            "client_id": active_ids.array,
            "therapist_id": active_clients["therapist_id"].array,
            "site": active_clients["site"].array,
            "risk": risk_of,
            "risk_within_horizon": picked(soon.to_numpy(dtype=float), np.nan),
            "scored": scored,
            "not_scored_reason": pd.array(np.where(scored, "", NO_APPOINTMENTS), dtype="str"),
            **{
                col: pd.array(picked(reasons[col].to_numpy(dtype=object), "", object), dtype="str")
                for col in ("reason_1", "reason_2", "reason_3")
            },
            "sessions_attended": picked(
                examples["attended"].fillna(0).to_numpy(dtype=float), 0.0
            ).astype(int),
            "last_attended": pd.array(
                picked(
                    last.dt.strftime("%Y-%m-%d").to_numpy(dtype=object, na_value=""), "", object
                ),
                dtype="str",
            ),
        },
        index=pd.Index(active_ids.to_numpy(), name="client_id"),
    )

    # clients whose own row was rejected are still accounted for (CONTRACT.md: nothing dropped)
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
    rule = tiers if tiers is not None else stored.tiers
    base["risk_tier"] = tiers_of(base, rule)
    columns = list(RISK_LIST_COLUMNS)
    if since is not None:
        now = _Scored(examples, contributions, base.set_index("client_id")["risk"])
        base = with_changes(base, model, active_clients, sessions, since, rule, now)
        columns += SINCE_COLUMNS
    base = base.sort_values(
        ["scored", "risk", "client_id"], ascending=[False, False, True], kind="stable"
    )
    base["rank"] = np.arange(1, len(base) + 1)
    base["model_version"] = loaded.version_label
    return Caseload(
        risk_list=base[columns].reset_index(drop=True),
        details=detail,
        drift=drift_report,
    )


@dataclass(frozen=True)
class _Scored:
    """One date's scored rows: feature rows (by client id), contributions and risks."""

    examples: pd.DataFrame
    contributions: pd.DataFrame
    risk: pd.Series


def with_changes(
    base: pd.DataFrame,
    model,
    active_clients: pd.DataFrame,
    sessions: pd.DataFrame,
    since: pd.Timestamp,
    tiers,
    now: _Scored,
) -> pd.DataFrame:
    """``base`` (the risk list's rows) with ``risk_change``, ``tier_since`` and ``change_reason``.

    The same clients are scored as of ``since`` from their appointments on or before it,
    by the same model and tier rule; a client with no appointment by then is new.
    """
    settings = model.feature_settings
    stored = model.settings
    then_examples = asof_examples(
        active_clients, sessions, since, stored.instruments, stored.features
    ).set_index("client_id", drop=False)
    X = model_inputs(then_examples)
    out = base.copy()
    label = f"{since:%Y-%m-%d}"
    then = pd.DataFrame(
        {
            "client_id": active_clients["client_id"].to_numpy(),
            "site": active_clients["site"].to_numpy(),
            "risk": np.nan,
            "risk_within_horizon": np.nan,
        }
    ).set_index("client_id", drop=False)
    if len(X):
        probability, contributions_then = model.predict_and_explain(X)
        then.loc[X.index, "risk"] = probability
        if getattr(tiers, "by", "risk") == "risk_within_horizon":
            then.loc[X.index, "risk_within_horizon"] = horizon_risk(model, X, probability)
    then["risk"] = then["risk"].astype(float).round(4)
    then["risk_within_horizon"] = np.minimum(
        then["risk_within_horizon"].astype(float).round(4), then["risk"]
    )
    then["tier"] = tiers_of(then.reset_index(drop=True), tiers).to_numpy()
    by_client = out["client_id"]
    risk_then = by_client.map(then["risk"])
    out["risk_change"] = (out["risk"] - risk_then).round(4)
    out["tier_since"] = by_client.map(then["tier"]).fillna("").where(risk_then.notna(), "")
    reason = pd.Series("", index=out.index, dtype=object)
    scored_now = out["risk"].notna()
    reason[scored_now & risk_then.isna()] = NEW_CLIENT.format(date=label)
    both = [c for c in now.risk.index[now.risk.notna()] if c in X.index]
    if both:
        then_rows = then_examples.loc[both].join(model.history.transform(X.loc[both]))
        then_rows["ctx_history_prior"] = model.history.prior_
        now_rows = now.examples.loc[both]
        words = change_reasons(
            then_rows,
            now_rows,
            contributions_then.loc[both],
            now.contributions.loc[both],
            out.set_index("client_id")["risk_change"].loc[both],
            settings,
            since,
        )
        reason.loc[scored_now & risk_then.notna()] = by_client[scored_now & risk_then.notna()].map(
            words
        )
    out["change_reason"] = reason.fillna("")
    return out


def change_groups(risk_list: pd.DataFrame, risen_by: float) -> pd.DataFrame:
    """Which clients of a risk list with ``SINCE_COLUMNS`` fall in each "What changed" group.

    One boolean column per group, rows as in ``risk_list``:

    - ``to-high``: high now and not high on the since date (new clients included);
    - ``risen``: scored now with ``risk_change`` of at least ``risen_by``;
    - ``left-high``: high on the since date and not high now (lower, or not scored now);
    - ``new``: scored now with no risk then (not in the caseload on the since date).

    ``scored`` may be booleans or the text a CSV reader gives ("true"/"false").
    """
    scored = risk_list["scored"]
    if not pd.api.types.is_bool_dtype(scored.dtype):
        scored = scored.astype(str).str.strip().str.lower().isin(["true", "1"])
    tier = risk_list["risk_tier"].astype("string").fillna("").where(scored, "")
    then = risk_list["tier_since"].astype("string").fillna("")
    change = pd.to_numeric(risk_list["risk_change"], errors="coerce")
    return pd.DataFrame(
        {
            "to-high": tier.eq("high") & then.ne("high"),
            "risen": scored & (change >= risen_by - 1e-9).fillna(False),
            "left-high": then.eq("high") & tier.ne("high"),
            "new": scored & change.isna(),
        },
        index=risk_list.index,
    ).astype(bool)


def change_summary(risk_list: pd.DataFrame, risen_by: float) -> dict[str, int]:
    """How many clients are in each group of :func:`change_groups`."""
    groups = change_groups(risk_list, risen_by)
    return {
        "new_high": int(groups["to-high"].sum()),
        "risen": int(groups["risen"].sum()),
        "left_high": int(groups["left-high"].sum()),
        "new": int(groups["new"].sum()),
    }
