"""Typed, frozen configuration read once at the entry point and passed down.

The YAML in ``configs/default.yaml`` holds every default; a user file given with
``--config`` is merged over it key by key, then validated by pydantic so a typo or a
wrong type fails with the key's name instead of surfacing later as a KeyError.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from configs.errors import InputError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrackingConfig(_Frozen):
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "dropout-risk"
    registered_model: str = "dropout-risk"


class WaiConfig(_Frozen):
    n_items: int = Field(12, ge=1)
    min: float = 1
    max: float = 5
    subscales: dict[str, tuple[int, ...]]
    min_items_per_subscale: int = Field(3, ge=1)
    rupture_drop: float = Field(0.5, gt=0)

    @model_validator(mode="after")
    def _check_key(self) -> WaiConfig:
        if self.min >= self.max:
            raise ValueError("wai.min must be below wai.max")
        for name, items in self.subscales.items():
            bad = [i for i in items if not 1 <= i <= self.n_items]
            if bad:
                raise ValueError(
                    f"wai subscale {name!r} names items {bad} outside 1..{self.n_items}"
                )
        if set(self.subscales) != {"bond", "goal", "task"}:
            raise ValueError("wai.subscales must define exactly bond, goal and task (Bordin)")
        return self


class SrsConfig(_Frozen):
    n_items: int = Field(4, ge=1)
    item_min: float = 0
    item_max: float = 10
    total_min: float = 0
    total_max: float = 40
    cutoff: float = 36
    rupture_drop: float = Field(1.0, gt=0)


class OrsConfig(_Frozen):
    total_min: float = 0
    total_max: float = 40
    cutoff: float = 25
    reliable_change: float = 5


class InstrumentsConfig(_Frozen):
    wai: WaiConfig
    srs: SrsConfig
    ors: OrsConfig


class FeaturesConfig(_Frozen):
    # an integer K means appointments 1..K; a list names the appointments
    landmarks: int | tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20)
    slope_window: int = Field(3, ge=2, le=20)
    # besides the landmarks, a training example of every open episode each this many days
    # of the calendar (counted back from the export date), built as `score` builds a row
    snapshot_days: int = Field(14, ge=1, le=365)

    @model_validator(mode="after")
    def _check_landmarks(self) -> FeaturesConfig:
        values = self.landmark_list()
        if not values or min(values) < 1 or max(values) > 200:
            raise ValueError("features.landmarks must be appointment numbers between 1 and 200")
        return self

    def landmark_list(self) -> tuple[int, ...]:
        """The appointment numbers after which a training example is taken."""
        if isinstance(self.landmarks, int):
            return tuple(range(1, self.landmarks + 1))
        return tuple(sorted(set(self.landmarks)))


class HistoryConfig(_Frozen):
    # prior weight (in episodes) of the overall rate, or "auto" (empirical Bayes)
    shrinkage: Literal["auto"] | float = "auto"
    # therapists and sites with fewer labelled episodes are not stored and get the prior
    min_episodes: int = Field(5, ge=1)


class LabelConfig(_Frozen):
    inactive_as_dropout: bool = False
    inactive_days: int = Field(90, ge=1)
    # risk_within_horizon: discharged as a dropout on or before the as-of date plus this
    horizon_days: int = Field(60, ge=1, le=730)


class BacktestConfig(_Frozen):
    # past as-of dates at which the held-out clients' caseload is rebuilt and scored
    dates: int = Field(6, ge=1, le=36)
    spacing_days: int = Field(30, ge=1)
    # the latest date lies this many days before the export (at least the horizon), so
    # every date's horizon outcome is observed and most episodes have ended since
    min_follow_up_days: int = Field(90, ge=1)
    # ... and further back until at least this share of the episodes open on it have
    # ended by the export: enough follow-up for their eventual outcome
    min_ended_share: float = Field(0.9, gt=0, le=1)
    # the development clients' caseloads are scored too, each fold of them by the chosen
    # configuration refitted (and recalibrated) without that fold: every client in the
    # back-test, not only the held-out ones (0: held-out clients only)
    crossfit_folds: int = Field(4, ge=0, le=20)


def _choices(value) -> tuple:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


class _SearchSpace(_Frozen):
    """Each setting is one value or a list of values to search over."""

    @model_validator(mode="after")
    def _positive(self) -> _SearchSpace:
        for key in type(self).model_fields:
            values = _choices(getattr(self, key))
            low = 0 if key in ("l2_regularization", "reg_lambda") else 1e-12
            if not values or any(v < low for v in values):
                raise ValueError(f"{key}: every value must be {'>= 0' if low == 0 else '> 0'}")
            if key == "colsample_bytree" and any(v > 1 for v in values):
                raise ValueError("colsample_bytree: every value must be at most 1")
        return self

    def grid(self) -> list[dict]:
        """Every combination of the listed values, in a stable order."""
        import itertools

        keys = list(type(self).model_fields)
        values = [_choices(getattr(self, k)) for k in keys]
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


class LogisticSpace(_SearchSpace):
    C: float | tuple[float, ...] = (0.05, 0.5)


class HGBSpace(_SearchSpace):
    max_iter: int | tuple[int, ...] = 300
    learning_rate: float | tuple[float, ...] = 0.05
    max_leaf_nodes: int | tuple[int, ...] = 15
    min_samples_leaf: int | tuple[int, ...] = 50
    l2_regularization: float | tuple[float, ...] = 1.0


class LightGBMSpace(_SearchSpace):
    n_estimators: int | tuple[int, ...] = 300
    learning_rate: float | tuple[float, ...] = 0.05
    num_leaves: int | tuple[int, ...] = 15
    min_child_samples: int | tuple[int, ...] = 50
    reg_lambda: float | tuple[float, ...] = 1.0
    colsample_bytree: float | tuple[float, ...] = 0.8


class CandidatesConfig(_Frozen):
    logistic: LogisticSpace | None = LogisticSpace()
    hist_gradient_boosting: HGBSpace | None = HGBSpace()
    lightgbm: LightGBMSpace | None = LightGBMSpace()


class SearchConfig(_Frozen):
    # configurations drawn (seeded) from each candidate's grid; the whole grid when smaller
    configs_per_candidate: int = Field(4, ge=1)
    # time box: no new configuration is started after this many minutes (logged when hit)
    max_minutes: float = Field(6.0, gt=0)
    # the search compares configurations on the examples of a seeded sample of clients
    # holding at most this many rows; the chosen one is then cross-validated (for its
    # calibration) and refitted on every example
    max_rows: int = Field(40000, ge=1000)
    # the chosen configuration's out-of-fold margins, which fit the calibration, come from
    # a seeded sample of clients with at most this many rows (every row of most clinics)
    calibration_rows: int = Field(400000, ge=1000)


class TrainingConfig(_Frozen):
    seed: int = 42
    test_fraction: float = Field(0.2, gt=0, lt=0.9)
    temporal_fraction: float = Field(0.0, ge=0, lt=0.9)
    cv_folds: int = Field(4, ge=2, le=20)
    selection_metric: Literal["log_loss"] = "log_loss"
    calibration: Literal["sigmoid", "isotonic", "auto"] = "auto"
    # the rows whose out-of-fold margins fit the calibration: every example, or only the
    # calendar snapshots (the cross-sections of open episodes that scoring meets)
    calibrate_on: Literal["all", "snapshots"] = "snapshots"
    bootstrap: int = Field(200, ge=0)
    candidates: CandidatesConfig = CandidatesConfig()
    search: SearchConfig = SearchConfig()
    history: HistoryConfig = HistoryConfig()
    backtest: BacktestConfig = BacktestConfig()


class TiersConfig(_Frozen):
    # probability: tiers by calibrated risk; capacity: the highest risks at each site, as
    # many as the team can call (high_per_site, then medium_per_site)
    rule: Literal["probability", "capacity"] = "probability"
    # the column the rule reads: the risk of dropout at all, or within the label's horizon
    # (risk_within_horizon: who is likely to leave soon, for a team that calls weekly)
    by: Literal["risk", "risk_within_horizon"] = "risk"
    high: float = Field(0.4, gt=0, lt=1)
    medium: float = Field(0.2, gt=0, lt=1)
    high_per_site: int | None = Field(None, ge=0)
    medium_per_site: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> TiersConfig:
        if self.medium >= self.high:
            raise ValueError("scoring.tiers.medium must be below scoring.tiers.high")
        if self.rule == "capacity" and (self.high_per_site is None or self.medium_per_site is None):
            raise ValueError(
                "scoring.tiers.rule capacity needs high_per_site and medium_per_site "
                "(how many clients per site the team can call)"
            )
        return self

    def describe(self, horizon_days: int | None = None) -> str:
        """The rule in a sentence for the people reading the list."""
        if self.by == "risk":
            risk, risks = "risk", "risks"
        else:
            within = f"within {horizon_days} days" if horizon_days else "within the horizon"
            risk, risks = f"risk of dropout {within}", f"risks of dropout {within}"
        if self.rule == "capacity":
            return (
                f"High: the {self.high_per_site} highest {risks} at each site; medium: the next "
                f"{self.medium_per_site}; low: the rest (capacity rule from config)."
            )
        if self.by == "risk":
            return (
                f"High: risk of {self.high:.0%} or more; medium: {self.medium:.0%} or more; "
                "low: below (probability thresholds from config)."
            )
        return (
            f"High: {risk} of {self.high:.0%} or more; medium: {self.medium:.0%} or more; "
            "low: below (probability thresholds from config)."
        )


class ScoringConfig(_Frozen):
    tiers: TiersConfig = TiersConfig()
    # `score --since`: a rise in risk of at least this much is "risen" on the page
    risen_by: float = Field(0.10, gt=0, lt=1)


class DriftConfig(_Frozen):
    # the training summary: the caseload as it stood on this many past dates, this far apart
    reference_dates: int = Field(6, ge=1, le=52)
    reference_spacing_days: int = Field(28, ge=1)
    # population stability index: the usual conventions, not tuned to any data
    psi_moved: float = Field(0.1, gt=0)
    psi_alarm: float = Field(0.25, gt=0)
    # absolute change in a feature's missing share that raises the alarm
    missing_alarm: float = Field(0.2, gt=0, le=1)
    # batches smaller than this are not judged (their PSI is mostly noise)
    min_rows: int = Field(100, ge=1)
    # chance, over all features, that sampling alone marks a feature as moved
    significance: float = Field(0.001, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> DriftConfig:
        if self.psi_moved >= self.psi_alarm:
            raise ValueError("drift.psi_moved must be below drift.psi_alarm")
        return self


class PromotionConfig(_Frozen):
    # the challenger's AUROC may be lower than the champion's by at most this much at the
    # upper end of the paired client-bootstrap 95% interval of the difference
    auroc_margin: float = Field(0.0, ge=0, lt=1)
    # the challenger's calibration slope on the held-out clients must lie within these bounds
    calibration_slope: tuple[float, float] = (0.8, 1.2)
    # |observed rate − mean predicted risk| of the challenger on the caseload back-test
    calibration_in_the_large: float = Field(0.05, gt=0, lt=1)
    # the challenger's largest subgroup gap (AUROC, calibration-in-the-large) may exceed the
    # champion's by at most this much
    subgroup_gap_tolerance: float = Field(0.02, ge=0)
    bootstrap: int = Field(500, ge=50)

    @model_validator(mode="after")
    def _bounds(self) -> PromotionConfig:
        low, high = self.calibration_slope
        if not 0 < low < 1 < high:
            raise ValueError(
                "promotion.calibration_slope must be [low, high] with 0 < low < 1 < high"
            )
        return self


class SynthConfig(_Frozen):
    n_clients: int = Field(6000, ge=1)
    seed: int = 7


class Config(_Frozen):
    tracking: TrackingConfig = TrackingConfig()
    instruments: InstrumentsConfig
    features: FeaturesConfig = FeaturesConfig()
    label: LabelConfig = LabelConfig()
    training: TrainingConfig = TrainingConfig()
    scoring: ScoringConfig = ScoringConfig()
    drift: DriftConfig = DriftConfig()
    promotion: PromotionConfig = PromotionConfig()
    synth: SynthConfig = SynthConfig()


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def default_config_dict() -> dict:
    """The packaged defaults as a plain dict (``configs/default.yaml``)."""
    text = resources.files("configs").joinpath("default.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_config(path: str | Path | None = None) -> Config:
    """Read the defaults, merge the user's file over them and validate.

    Parameters
    ----------
    path
        A YAML file with any subset of the keys of ``configs/default.yaml``, or None.

    Raises
    ------
    InputError
        When the file is missing, is not YAML, or a key has a wrong name or value.
    """
    data = default_config_dict()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError(
                f"{path}: config file not found. Fix: pass an existing YAML file to --config."
            )
        try:
            user = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise InputError(
                f"{path}: not valid YAML ({exc}). Fix: correct the file's syntax."
            ) from exc
        if not isinstance(user, dict):
            raise InputError(f"{path}: expected a mapping of settings at the top level.")
        data = _merge(data, user)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        where = str(path) if path else "configs/default.yaml"
        lines = [
            f"{where}: setting {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        ]
        raise InputError(
            "\n".join(lines) + "\nFix: correct these settings (see configs/default.yaml)."
        ) from exc
