"""A trained RiskModel as plain arrays: risk and exact explanations without scikit-learn.

Scoring a caseload needs only what a fitted :class:`~models.risk_model.RiskModel` has
learnt: the preprocessing's parameters (:mod:`models.encoding`), the classifier's
coefficients or trees, the calibrator's two numbers or its steps, the learnt therapist
and site rates. Read from a skops file, the same model costs importing scikit-learn and
skops (about 3 s on 2 cores, most of a small caseload's run). :class:`ArrayRiskModel`
holds those parameters as numpy arrays and JSON facts and answers what `score` asks
of a RiskModel (``features``, ``predict_and_explain``, ``probability_points``,
``predict_horizon``, ``history``): both build it from their own encoding, contributions
and calibrator through :class:`models.explained_risk.ExplainedRisk`, and the tests check
the two agree on every candidate kind.

The file (:func:`save_arrays`, :func:`load_arrays`) is a NumPy ``.npz`` archive of
numeric arrays and one JSON header, read with ``allow_pickle=False``: it holds no code and
no object a reader could be made to build. :mod:`models.array_export` makes one from a
fitted RiskModel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit  # as scikit-learn's logistic models compute it

from configs.settings import FeatureSettings
from features.group_rates import GroupRates
from features.schema import FEATURE_NAMES
from models.encoding import EncodePlan, apply_plan, pack_plan, unpack_plan
from models.explained_risk import EXPLAIN_ROWS, ExplainedRisk
from models.tree_shap import Tree, tree_shap

FORMAT = "dropout-risk-arrays"
FORMAT_VERSION = 1
_TREE_ARRAYS = ("left", "right", "feature", "threshold", "missing_left", "value", "cover")


@dataclass(frozen=True)
class Calibrator:
    """Platt scaling (``sigmoid``: slope and intercept on the margin) or ``isotonic``
    (its step thresholds, linearly interpolated and clipped at the ends)."""

    method: str
    slope: float = 0.0
    intercept: float = 0.0
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype=float).reshape(-1)
        if self.method == "sigmoid":
            p = expit(margin.reshape(-1, 1) @ np.array([[self.slope]]) + self.intercept)
            p = p.reshape(-1)
        elif len(self.y) == 1:
            p = np.repeat(self.y, len(margin))
        else:
            # scipy's linear interp1d, as IsotonicRegression(out_of_bounds="clip") predicts
            t = np.clip(margin, self.x[0], self.x[-1])
            hi = np.clip(np.searchsorted(self.x, t), 1, len(self.x) - 1)
            lo = hi - 1
            slope = (self.y[hi] - self.y[lo]) / (self.x[hi] - self.x[lo])
            p = slope * (t - self.x[lo]) + self.y[lo]
        return np.clip(p, 1e-6, 1 - 1e-6)


@dataclass(frozen=True)
class Margin:
    """One fitted classifier on its preprocessing: the log-odds and their exact additive
    contributions per encoded column.

    ``kind`` is ``linear`` (``coef``, ``intercept``; contributions about
    ``reference_mean``) or ``trees`` (a sum of ``trees`` plus ``raw_base``).
    """

    plan: EncodePlan
    kind: str
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    intercept: float = 0.0
    reference_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    trees: list[Tree] = field(default_factory=list)
    raw_base: float = 0.0

    def encode(self, features: pd.DataFrame) -> np.ndarray:
        return apply_plan(self.plan, features)

    def decision(self, encoded: np.ndarray) -> np.ndarray:
        if self.kind == "linear":
            return encoded @ self.coef + self.intercept
        columns = np.ascontiguousarray(np.asarray(encoded, dtype=float).T)
        total = np.full(columns.shape[1], self.raw_base)
        for tree in self.trees:
            total += _tree_output(tree, columns)
        return total

    def contributions(self, encoded: np.ndarray) -> tuple[np.ndarray, float]:
        if self.kind == "linear":
            values = (encoded - self.reference_mean) * self.coef
            return values, float(self.intercept + self.coef @ self.reference_mean)
        return tree_shap(self.trees, self.raw_base, encoded)


def _tree_output(tree: Tree, columns: np.ndarray) -> np.ndarray:
    """Each row's leaf value; ``columns[f]`` holds feature ``f`` of every row."""
    n = columns.shape[1]
    node = np.zeros(n, dtype=np.int64)
    todo = np.flatnonzero(np.full(n, tree.left[0] >= 0))
    while len(todo):
        at = node[todo]
        x = columns[tree.feature[at], todo]
        left = (x <= tree.threshold[at]) | (np.isnan(x) & tree.missing_left[at])
        node[todo] = np.where(left, tree.left[at], tree.right[at])
        todo = todo[tree.left[node[todo]] >= 0]
    return tree.value[node]


class ArrayRiskModel(ExplainedRisk):
    """What scoring uses of a RiskModel, from arrays (see the module's text).

    Parameters
    ----------
    facts
        ``feature_settings``, ``candidate``, ``calibration``, ``kind``, ``sources`` (the
        original feature of each encoded column) and, when trained with them,
        ``drift_profile`` and ``split``.
    margin, calibrator
        The main model.
    history
        The learnt therapist and site rates.
    horizon
        ``(margin, calibrator, days)`` of the model of dropout within a horizon, or None.
    """

    def __init__(
        self,
        facts: dict,
        margin: Margin,
        calibrator: Calibrator,
        history: GroupRates,
        horizon: tuple[Margin, Calibrator, int] | None = None,
    ):
        self.feature_settings = facts["feature_settings"]
        self.candidate = facts.get("candidate", "")
        self.calibration = calibrator.method
        self.kind_ = facts["kind"]
        self.sources_ = np.array(facts["sources"], dtype=object)
        if facts.get("drift_profile") is not None:
            self.drift_profile_ = facts["drift_profile"]
        if facts.get("split") is not None:
            self.split_ = facts["split"]
        self.margin_model = margin
        self.calibrator_ = calibrator
        self.history = history
        self.horizon = horizon
        if horizon is not None:
            self.horizon_days_ = int(horizon[2])
        names = list(FEATURE_NAMES)
        position = {name: i for i, name in enumerate(names)}
        self._to_feature = np.zeros((len(self.sources_), len(names)))
        self._to_feature[np.arange(len(self.sources_)), [position[s] for s in self.sources_]] = 1.0

    @property
    def settings(self) -> FeatureSettings:
        return FeatureSettings.read(self.feature_settings)

    @property
    def has_horizon(self) -> bool:
        return self.horizon is not None

    # the parts models.explained_risk.ExplainedRisk builds risk and explanations from
    def _encode(self, features: pd.DataFrame) -> np.ndarray:
        return self.margin_model.encode(features)

    def _margin_of(self, features: pd.DataFrame) -> np.ndarray:
        return self.margin_model.decision(self.margin_model.encode(features))

    def _calibrate(self, margin: np.ndarray) -> np.ndarray:
        return self.calibrator_(margin)

    def _horizon_of(self, features: pd.DataFrame) -> np.ndarray:
        margin_model, calibrator, _ = self.horizon
        # a block of rows at a time, as the contributions (each row's value is its own)
        n = len(features)
        if n <= EXPLAIN_ROWS:
            return calibrator(margin_model.decision(margin_model.encode(features)))
        out = np.empty(n)
        for start in range(0, n, EXPLAIN_ROWS):
            rows = features.iloc[start : start + EXPLAIN_ROWS]
            out[start : start + EXPLAIN_ROWS] = calibrator(
                margin_model.decision(margin_model.encode(rows))
            )
        return out

    def _contributions(
        self, encoded: np.ndarray, index: pd.Index
    ) -> tuple[pd.DataFrame, np.ndarray]:
        values, base_value = self.margin_model.contributions(encoded)
        base = np.full(len(encoded), base_value)
        frame = pd.DataFrame(
            values @ self._to_feature, index=index, columns=list(FEATURE_NAMES), copy=False
        )
        return frame, base


def model_facts(model) -> dict:
    """The JSON-able facts of a RiskModel or an ArrayRiskModel (see :class:`ArrayRiskModel`)."""
    return {
        "feature_settings": model.feature_settings,
        "candidate": model.candidate,
        "kind": model.kind_,
        "sources": [str(s) for s in model.sources_],
        "drift_profile": getattr(model, "drift_profile_", None),
        "split": getattr(model, "split_", None),
    }


def _pack_margin(margin: Margin, prefix: str) -> tuple[dict, dict]:
    plan_facts, arrays = pack_plan(margin.plan, prefix)
    facts = {"plan": plan_facts, "kind": margin.kind}
    if margin.kind == "linear":
        facts["intercept"] = float(margin.intercept)
        arrays[f"{prefix}coef"] = np.asarray(margin.coef, dtype=float)
        arrays[f"{prefix}reference_mean"] = np.asarray(margin.reference_mean, dtype=float)
    else:
        facts["raw_base"] = float(margin.raw_base)
        arrays[f"{prefix}tree_sizes"] = np.array([len(t.left) for t in margin.trees], np.int64)
        for name in _TREE_ARRAYS:
            parts = [np.asarray(getattr(t, name)) for t in margin.trees]
            arrays[f"{prefix}tree_{name}"] = np.concatenate(parts) if parts else np.zeros(0)
    return facts, arrays


def _unpack_margin(facts: dict, arrays, prefix: str) -> Margin:
    plan = unpack_plan(facts["plan"], arrays, prefix)
    if facts["kind"] == "linear":
        return Margin(
            plan,
            "linear",
            coef=np.asarray(arrays[f"{prefix}coef"], dtype=float),
            intercept=float(facts["intercept"]),
            reference_mean=np.asarray(arrays[f"{prefix}reference_mean"], dtype=float),
        )
    if facts["kind"] != "trees":
        raise ValueError(f"unknown classifier kind {facts['kind']!r}")
    sizes = np.asarray(arrays[f"{prefix}tree_sizes"], dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    columns = {name: np.asarray(arrays[f"{prefix}tree_{name}"]) for name in _TREE_ARRAYS}
    trees = [
        Tree(
            left=columns["left"][a:b].astype(np.int64),
            right=columns["right"][a:b].astype(np.int64),
            feature=columns["feature"][a:b].astype(np.int64),
            threshold=columns["threshold"][a:b].astype(float),
            missing_left=columns["missing_left"][a:b].astype(bool),
            value=columns["value"][a:b].astype(float),
            cover=columns["cover"][a:b].astype(float),
        )
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return Margin(plan, "trees", trees=trees, raw_base=float(facts["raw_base"]))


def _pack_calibrator(calibrator: Calibrator, prefix: str) -> tuple[dict, dict]:
    facts = {
        "method": calibrator.method,
        "slope": float(calibrator.slope),
        "intercept": float(calibrator.intercept),
    }
    arrays = {
        f"{prefix}x": np.asarray(calibrator.x, float),
        f"{prefix}y": np.asarray(calibrator.y, float),
    }
    return facts, arrays


def _unpack_calibrator(facts: dict, arrays, prefix: str) -> Calibrator:
    if facts["method"] not in ("sigmoid", "isotonic"):
        raise ValueError(f"unknown calibration {facts['method']!r}")
    return Calibrator(
        facts["method"],
        slope=float(facts["slope"]),
        intercept=float(facts["intercept"]),
        x=np.asarray(arrays[f"{prefix}x"], dtype=float),
        y=np.asarray(arrays[f"{prefix}y"], dtype=float),
    )


def save_arrays(model: ArrayRiskModel, path: Path) -> Path:
    """Write ``model`` as one ``.npz`` file of numeric arrays and a JSON header."""
    margin_facts, arrays = _pack_margin(model.margin_model, "main_")
    calibrator_facts, more = _pack_calibrator(model.calibrator_, "calibrator_")
    arrays.update(more)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **model_facts(model),
        "margin": margin_facts,
        "calibrator": calibrator_facts,
        "history": {"prior": model.history.prior_, "rates": model.history.rates_},
        "horizon": None,
    }
    if model.horizon is not None:
        horizon_margin, horizon_calibrator, days = model.horizon
        facts, more = _pack_margin(horizon_margin, "horizon_")
        arrays.update(more)
        cal_facts, more = _pack_calibrator(horizon_calibrator, "horizon_calibrator_")
        arrays.update(more)
        header["horizon"] = {"margin": facts, "calibrator": cal_facts, "days": int(days)}
    text = json.dumps(header, sort_keys=True, allow_nan=True).encode("utf-8")
    arrays["header"] = np.frombuffer(text, dtype=np.uint8)
    path = Path(path)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def load_arrays(path: Path) -> ArrayRiskModel:
    """Read a model written by :func:`save_arrays` (numbers only: no pickle is read).

    Raises
    ------
    ValueError
        When the file is not such a model, or of a format this version does not know.
    """
    with np.load(Path(path), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    if "header" not in arrays:
        raise ValueError("no header: not a dropout-risk array model")
    header = json.loads(arrays["header"].tobytes().decode("utf-8"))
    if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"format {header.get('format')!r} version {header.get('format_version')!r}, "
            f"expected {FORMAT!r} version {FORMAT_VERSION}"
        )
    horizon = None
    if header.get("horizon"):
        h = header["horizon"]
        horizon = (
            _unpack_margin(h["margin"], arrays, "horizon_"),
            _unpack_calibrator(h["calibrator"], arrays, "horizon_calibrator_"),
            int(h["days"]),
        )
    history = GroupRates(header["history"]["prior"], header["history"]["rates"])
    return ArrayRiskModel(
        header,
        _unpack_margin(header["margin"], arrays, "main_"),
        _unpack_calibrator(header["calibrator"], arrays, "calibrator_"),
        history,
        horizon,
    )
