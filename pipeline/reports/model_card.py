"""The model card of a registered model version, as markdown and as one self-contained page.

A model card (Mitchell et al. 2019, "Model Cards for Model Reporting", FAT* '19) says what
the model is for and not for, what it was trained on, how the label is defined and how well
it did overall, over time and in subgroups, in the spirit of TRIPOD+AI reporting (Collins
et al., BMJ 2024;385:e078378; EVIDENCE.md). `pipeline.commands.train` builds a `ModelCardFacts` and
logs both files with the registered version.

The card takes aggregates only (counts, rates, an `models.assessment.Assessment`), so it
cannot show a client's id or row. Both formats are rendered from one list of blocks, so
they say the same thing, and every value is escaped for its format when rendered. The page
uses the look of the evaluation report (`pipeline.reports.evaluation`): same fonts, Okabe-Ito
blue accents and table style, so the two read as one product.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from models.assessment import AGE_BANDS, CHAMPION, POOLED_GROUP, Assessment
from models.backtest import TARGET_LABELS
from pipeline.io.output import write_text
from pipeline.reports.evaluation import LANDMARK_HEADERS, html_table

MARKDOWN_NAME = "model_card.md"
HTML_NAME = "model_card.html"

CARD_SECTIONS: tuple[str, ...] = (
    "model-details",
    "intended-use",
    "training-data",
    "label",
    "model",
    "caseload",
    "performance",
    "subgroups",
    "limitations",
    "methods",
)
CARD_SECTION_TITLES: dict[str, str] = {
    "model-details": "Model details",
    "intended-use": "Intended use",
    "training-data": "Training data",
    "label": "Label definition",
    "model": "Model",
    "caseload": "Performance on past caseloads (the headline)",
    "performance": "Landmark view: closed held-out episodes",
    "subgroups": "Subgroups and fairness",
    "limitations": "Limitations and ethical considerations",
    "methods": "Methods",
}


@dataclass(frozen=True)
class ModelCardFacts:
    """Everything the card says about one registered model version: aggregates only.

    Attributes
    ----------
    model_name, version, run_id, created, package_version
        Registered model name, its registry version, the MLflow run, the ISO date-time of
        training and the installed dropout-risk version.
    selected, selected_params, calibration
        The chosen candidate, its parameters and the calibration method
        (``sigmoid`` or ``isotonic``).
    data_window
        Earliest intake month and latest session month, ``"YYYY-MM"``.
    data
        `pipeline.commands.train.data_summary`: ``data_clients``, ``data_sessions``,
        ``data_labelled_episodes``, ``data_dropout_rate``, ``data_sites``,
        ``data_therapists``, ``data_wai_rated_share``, ``data_srs_rated_share``, ... A
        missing key is shown as "–".
    split
        ``TrainingResult.split_summary``: ``n_test_clients``, ``n_development_clients``, ...
    label
        ``{"inactive_as_dropout": bool, "inactive_days": int}``.
    tiers
        The tier rule in a sentence (``TiersConfig.describe()``).
    assessment, temporal, temporal_note
        The held-out assessment (champion and baselines), the temporal one or None, and
        the sentence saying how the temporal split was made or why it was not run.
    methods
        Sentences from `pipeline.commands.train.methods_text`.
    config_hash, data_fingerprint
        The sha256 prefix of the training configuration and the sha256 of each input file.
    features
        Feature family to the names of its features.
    promotion
        What the registry did with this version, e.g. "registered as challenger; champion
        unchanged"; empty to leave it out.
    landmarks
        The appointments after which training examples were taken (``features.landmarks``
        in config); empty to leave the list out.
    """

    model_name: str
    version: str
    run_id: str
    created: str
    package_version: str
    selected: str
    selected_params: dict
    calibration: str
    data_window: tuple[str, str]
    data: dict[str, float]
    split: dict[str, float]
    label: dict
    tiers: str
    assessment: Assessment
    temporal: Assessment | None
    temporal_note: str
    methods: list[str]
    config_hash: str
    data_fingerprint: dict[str, str]
    features: dict[str, list[str]]
    promotion: str = ""
    landmarks: tuple[int, ...] = ()
    # the caseload back-test (models.backtest.caseload_metrics) and a sentence on its dates
    caseload: object = None
    caseload_note: str = ""
    horizon_days: int = 60


# ---------------------------------------------------------------------------- blocks
# A section is a list of blocks holding plain, unescaped text; each renderer escapes.


@dataclass(frozen=True)
class _Paragraph:
    text: str


@dataclass(frozen=True)
class _HowToRead:
    text: str


@dataclass(frozen=True)
class _Subheading:
    text: str


@dataclass(frozen=True)
class _Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class _Table:
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


_Block = _Paragraph | _HowToRead | _Subheading | _Bullets | _Table


def _table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> _Table:
    return _Table(caption, tuple(headers), tuple(tuple(str(c) for c in row) for row in rows))


# ------------------------------------------------------------------------------ numbers

_DASH = "–"


def _finite(value: object) -> float | None:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _num(value: object, digits: int = 3) -> str:
    x = _finite(value)
    return _DASH if x is None else f"{x:.{digits}f}"


def _pct(value: object, digits: int = 1) -> str:
    x = _finite(value)
    return _DASH if x is None else f"{100 * x:.{digits}f}%"


def _count(value: object) -> str:
    x = _finite(value)
    return _DASH if x is None else f"{round(x):,}"


def _with_ci(row: Mapping, metric: str, digits: int = 3) -> str:
    """``estimate (low to high)``; the estimate alone when there is no interval."""
    estimate = _num(row.get(metric), digits)
    low, high = _finite(row.get(f"{metric}_ci_low")), _finite(row.get(f"{metric}_ci_high"))
    if estimate == _DASH or low is None or high is None:
        return estimate
    return f"{estimate} ({low:.{digits}f} to {high:.{digits}f})"


def _looks_numeric(text: str) -> bool:
    head = text.split(" ")[0].rstrip("%").replace(",", "")
    if head == _DASH:
        return True
    try:
        float(head)
    except ValueError:
        return False
    return True


def _numeric_columns(table: _Table) -> list[bool]:
    """Columns whose every cell is a number (or "–"), right-aligned in both formats."""
    out = []
    for i in range(len(table.headers)):
        cells = [row[i] for row in table.rows]
        out.append(
            bool(cells) and all(_looks_numeric(c) for c in cells) and any(c != _DASH for c in cells)
        )
    return out


# ----------------------------------------------------------------------------- sections

_CALIBRATION_WORDS = {
    "sigmoid": "sigmoid (Platt scaling)",
    "isotonic": "isotonic regression",
}
_FAMILY_ORDER = ("attendance", "alliance", "interaction", "outcome", "intake", "history")
_OVERALL_HEADERS = (
    "model",
    "episodes",
    "dropout rate",
    "AUROC (95% CI)",
    "AUPRC",
    "Brier score",
    "calibration slope (95% CI)",
    "calibration intercept (95% CI)",
)


def _overall_rows(a: Assessment) -> list[list[str]]:
    overall = a.overall.set_index("model")
    rows = []
    for model in a.models:
        if model not in overall.index:
            continue
        r = overall.loc[model].to_dict()
        rows.append(
            [
                model,
                _count(r.get("n_episodes")),
                _pct(r.get("prevalence")),
                _with_ci(r, "auroc"),
                _num(r.get("auprc")),
                _num(r.get("brier")),
                _with_ci(r, "cal_slope"),
                _with_ci(r, "cal_intercept"),
            ]
        )
    return rows


def _champion(a: Assessment) -> dict:
    overall = a.overall.set_index("model")
    if CHAMPION not in overall.index:
        raise ValueError(
            f"assessment.overall: no {CHAMPION!r} row. Fix: pass the assessment that "
            "models.assessment.assess returned for the registered model."
        )
    return overall.loc[CHAMPION].to_dict()


def _age_bands(a: Assessment) -> list[str]:
    ages = a.subgroups[a.subgroups["attribute"] == "age"]["group"].tolist()
    return [band for band in AGE_BANDS if band in ages]


def _model_details(f: ModelCardFacts) -> list[_Block]:
    champion = _champion(f.assessment)
    rows = [
        ["model", f.model_name],
        ["version", f.version],
        ["created", f.created],
        ["MLflow run id", f.run_id],
        ["dropout-risk version", f.package_version],
        ["configuration hash (sha256 prefix)", f.config_hash],
    ]
    known = [k for k in ("clients", "sessions") if k in f.data_fingerprint]
    for name in [*known, *sorted(set(f.data_fingerprint) - set(known))]:
        rows.append([f"{name} file (sha256)", f.data_fingerprint[name]])
    if f.promotion:
        rows.append(["registry status", f.promotion])
    glance = (
        f"Predicts, after each appointment, the probability that a therapy episode ends in "
        f"dropout. On clients held out from training: AUROC {_with_ci(champion, 'auroc')}, "
        f"calibration slope {_with_ci(champion, 'cal_slope')} (ideal 1), calibration "
        f"intercept {_with_ci(champion, 'cal_intercept')} (ideal 0)."
    )
    return [_Paragraph(glance), _table("This version", ["field", "value"], rows)]


def _intended_use(f: ModelCardFacts) -> list[_Block]:
    bands = _age_bands(f.assessment)
    ages = f" (age bands seen among held-out clients: {', '.join(bands)})" if bands else ""
    return [
        _Paragraph(
            "Intended users: treatment teams and clinical leads who review the weekly risk "
            "list of their active caseload, and the data scientists who maintain and check "
            "the model."
        ),
        _Paragraph(
            "Intended use: ranking active clients by the calibrated probability that their "
            "current episode ends in dropout, each with the three strongest reasons, to "
            "decide whom to contact first. The list supports a clinical conversation; the "
            "decision whether and how to act stays with the clinicians who know the client."
        ),
        _Subheading("Not for"),
        _Bullets(
            (
                "Denying, delaying or rationing care, or deciding who is offered treatment.",
                "Judging or ranking therapists or sites: their past dropout rates are inputs "
                "that shift a client's risk, not a measure of the quality of their work.",
                "Diagnosis, or any clinical judgement other than who may need a retention contact.",
                "Populations unlike the training data: other care settings, services or "
                f"programs, and ages outside those in the training data{ages}.",
                "Use at a new clinic, or after a change in practice or in how discharges are "
                "recorded, without first checking locally that predicted and observed dropout "
                "rates agree (and recalibrating when they do not).",
            )
        ),
    ]


def _training_data(f: ModelCardFacts) -> list[_Block]:
    d, s = f.data, f.split
    start, end = f.data_window
    rows = [
        ["clients (treatment episodes)", _count(d.get("data_clients"))],
        ["sessions (scheduled appointments)", _count(d.get("data_sessions"))],
        ["labelled episodes (dropout or completed)", _count(d.get("data_labelled_episodes"))],
        ["dropout rate among labelled episodes", _pct(d.get("data_dropout_rate"))],
        ["sites", _count(d.get("data_sites"))],
        ["therapists", _count(d.get("data_therapists"))],
        ["appointments attended", _pct(d.get("data_attendance_rate"))],
        ["attended sessions with a WAI rating", _pct(d.get("data_wai_rated_share"))],
        ["attended sessions with an SRS rating", _pct(d.get("data_srs_rated_share"))],
        ["training examples (landmarks and snapshots)", _count(d.get("data_training_examples"))],
        ["input rows rejected by validation", _count(d.get("data_rejected_rows"))],
        ["development clients", _count(s.get("n_development_clients"))],
        ["held-out test clients", _count(s.get("n_test_clients"))],
    ]
    return [
        _Paragraph(f"Data window: intakes from {start}, sessions up to {end} (months)."),
        _table("Training data in numbers", ["measure", "value"], rows),
        _Paragraph(
            "Held-out clients were split off by client before any fitting; they took no part "
            "in fitting, model selection or calibration, and every number under Performance "
            "and Subgroups comes from them."
        ),
    ]


def _label(f: ModelCardFacts) -> list[_Block]:
    inactive = bool(f.label.get("inactive_as_dropout", False))
    days = f.label.get("inactive_days", _DASH)
    if inactive:
        switch = (
            f"Inactive-as-dropout is ON for this model (label.inactive_as_dropout: true, "
            f"label.inactive_days: {days}): an active episode with no attended session in "
            f"the {days} days before the extraction date (the latest session date in the "
            "data) is labelled dropout, although it was never discharged."
        )
    else:
        switch = (
            "Inactive-as-dropout is OFF for this model (label.inactive_as_dropout: false): "
            "active episodes carry no label, however long since their last attended session."
        )
    items = [
        "Dropout (1): the episode's discharge_reason is dropout.",
        "Another ending (0): the episode's discharge_reason is completed, transferred or "
        "other; dropout competes with these endings (a transfer ends the episode, not in "
        "dropout).",
        "Censored: episodes still open at the export. Their outcome is unknown, but they "
        "are used: every example of an open episode counts for as long as it was "
        "followed (inverse-probability-of-censoring weights).",
        f"risk_within_horizon: discharged as a dropout within {f.horizon_days} days of "
        "the moment of prediction; never above risk.",
        switch,
    ]
    when = "Predictions are made at the states `score` meets: just after an appointment ("
    when += (
        f"landmarks: after appointments {', '.join(map(str, f.landmarks))}"
        if f.landmarks
        else "landmarks"
    )
    when += (
        ") and on calendar dates while the episode is open (snapshots, with the time since "
        "the last appointment counted up to the date), using nothing recorded after that "
        "moment. The question answered is: given what is known about this client up to "
        "now, what is the probability that this episode ends in dropout? No example is "
        "weighted by its episode's outcome or length; an example's weight is 1 over the "
        "chance that its episode's end was observed before the export."
    )
    return [_Bullets(tuple(items)), _Paragraph(when)]


def _caseload(f: ModelCardFacts) -> list[_Block]:
    frame = f.caseload
    if frame is None or not len(frame):
        return [_Paragraph("No caseload back-test was recorded for this version.")]
    rows = []
    for _, r in frame[frame["date"].eq("pooled")].iterrows():
        rows.append(
            [
                TARGET_LABELS.get(r["target"], str(r["target"])),
                _with_ci(r, "auroc"),
                _num(r["auprc"]),
                _num(r["brier"]),
                _with_ci(r, "cal_slope"),
                _with_ci(r, "calibration_in_the_large"),
                _count(r["n_rows"]),
            ]
        )
    return [
        _HowToRead(
            "The held-out clients' caseloads rebuilt on past dates (what an export then "
            "would have shown), scored by this model, against what happened since. "
            "Observed − predicted above 0 means risks too low on average; a slope below 1 "
            "means risks too extreme. Open episodes are censored (IPCW). This is how the "
            "list is used, so these are the figures to judge it by; `promote` gates on them."
        ),
        _Paragraph(f.caseload_note),
        _table(
            "Caseload back-test, pooled over the dates",
            [
                "target",
                "AUROC (95% CI)",
                "AUPRC",
                "Brier",
                "calibration slope (95% CI)",
                "observed − predicted (95% CI)",
                "rows scored",
            ],  # fmt: skip
            rows,
        ),
    ]


def _family_order(families: Iterable[str]) -> list[str]:
    known = [fam for fam in _FAMILY_ORDER if fam in families]
    return known + sorted(set(families) - set(known))


def _model(f: ModelCardFacts) -> list[_Block]:
    params = json.dumps(f.selected_params, sort_keys=True, default=str)
    rows = [
        ["candidate", f.selected],
        ["parameters", params],
        ["calibration", _CALIBRATION_WORDS.get(f.calibration, f.calibration)],
        ["flag threshold (subgroup flag rates)", f"{f.assessment.flag_threshold:.2f}"],
    ]
    feature_rows = [
        [family, str(len(f.features[family])), ", ".join(map(str, f.features[family]))]
        for family in _family_order(f.features)
    ]
    total = sum(len(names) for names in f.features.values())
    blocks: list[_Block] = [_table("Selected model", ["item", "value"], rows)]
    blocks.append(_Subheading("Features"))
    if feature_rows:
        blocks += [
            _Paragraph(f"{total} features in {len(feature_rows)} families."),
            _table("Features by family", ["family", "count", "features"], feature_rows),
        ]
    else:
        blocks.append(_Paragraph("No feature list was recorded for this version."))
    blocks += [_Subheading("Risk tiers"), _Paragraph(f.tiers)]
    return blocks


def _performance(f: ModelCardFacts) -> list[_Block]:
    a = f.assessment
    champion = _champion(a)
    if a.n_boot > 0:
        intervals = (
            f"95% intervals are percentile intervals from {a.n_boot} bootstrap resamples of "
            "clients (all of a client's rows resampled together)."
        )
    else:
        intervals = "No bootstrap intervals were computed for this version (n_boot = 0)."
    blocks: list[_Block] = [
        _HowToRead(
            "AUROC is the chance that a client who dropped out got a higher risk than one "
            "who completed (0.5 is a coin toss, 1 is perfect); compare AUPRC with the "
            "dropout rate. Brier score: lower is better. A calibration slope below 1 means "
            "risks are too extreme; an intercept above 0 means risks are too low on average "
            "(below 0: too high)."
        ),
        _Paragraph(
            f"Held-out set: {_count(f.split.get('n_test_clients'))} clients, "
            f"{_count(champion.get('n_episodes'))} labelled episodes, dropout rate "
            f"{_pct(champion.get('prevalence'))}. {intervals} The baselines are simpler "
            "models on the same clients; the selected model should beat them clearly."
        ),
        _table(
            "Selected model (champion) and baselines on held-out clients",
            _OVERALL_HEADERS,
            _overall_rows(a),
        ),
        _Subheading("Temporal check"),
    ]
    if f.temporal is None:
        reason = f" ({f.temporal_note})" if f.temporal_note else ""
        blocks.append(
            _Paragraph(
                f"No temporal check was run for this version{reason}. The results above "
                "come from held-out clients of the same period, which tends to be more "
                "optimistic than performance on later intakes."
            )
        )
    else:
        t = _champion(f.temporal)
        text = "The chosen configuration refitted on earlier intakes and measured on later ones"
        text += f" ({f.temporal_note})." if f.temporal_note else "."
        before, after = _finite(champion.get("auroc")), _finite(t.get("auroc"))
        if before is not None and after is not None:
            text += (
                f" Champion AUROC {after:.3f} on later intakes against {before:.3f} on "
                f"held-out clients of the training period ({after - before:+.3f})."
            )
        blocks += [
            _Paragraph(text),
            _table("Temporal check: later intakes", _OVERALL_HEADERS, _overall_rows(f.temporal)),
        ]
    blocks.append(_Subheading("AUROC by landmark"))
    landmark_rows = [
        [
            str(int(r["landmark"])),
            _count(r["n_episodes"]),
            _pct(r["prevalence"]),
            _with_ci(r, "auroc"),
            _num(r["cal_intercept"]),
            _pct(r["mean_risk"]),
        ]
        for r in a.by_landmark.to_dict("records")
    ]
    if landmark_rows:
        blocks += [
            _Paragraph(
                "A landmark is the number of appointments seen when the risk was computed; "
                "early landmarks carry less information, so a lower AUROC there is expected."
            ),
            _table("Selected model by landmark", list(LANDMARK_HEADERS), landmark_rows),
        ]
    else:
        blocks.append(_Paragraph("No landmark was reached by enough clients to show."))
    return blocks


def _gap_sentence(a: Assessment) -> str:
    return (
        f"AUROC {_num(a.gaps.get('auroc'))}, calibration-in-the-large "
        f"{_num(a.gaps.get('calibration_in_the_large'))}, flag rate "
        f"{_pct(a.gaps.get('flag_rate'))}"
    )


def _subgroups(f: ModelCardFacts) -> list[_Block]:
    a = f.assessment
    blocks: list[_Block] = [
        _HowToRead(
            "Each group's AUROC with its 95% interval (wide intervals mean few episodes). "
            "Calibration-in-the-large is mean predicted risk minus the observed dropout rate: "
            "above 0 means the model over-predicts for that group. The flag rate is the share "
            f"of episodes with risk at or above {a.flag_threshold:.2f}."
        )
    ]
    rows = [
        [
            str(r["attribute"]),
            str(r["group"]),
            _count(r["n_episodes"]),
            _pct(r["prevalence"]),
            _with_ci(r, "auroc"),
            _num(r["calibration_in_the_large"]),
            _pct(r["flag_rate"]),
        ]
        for r in a.subgroups.to_dict("records")
    ]
    if rows:
        blocks.append(
            _table(
                "Selected model by subgroup (held-out clients)",
                [
                    "attribute",
                    "group",
                    "episodes",
                    "dropout rate",
                    "AUROC (95% CI)",
                    "calibration-in-the-large",
                    f"flag rate (risk ≥ {a.flag_threshold:.2f})",
                ],
                rows,
            )
        )
    else:
        blocks.append(_Paragraph("No subgroup attribute was available for this evaluation."))
    blocks += [
        _table(
            "Largest gaps: the largest difference between two groups of the same attribute",
            ["measure", "largest gap between groups"],
            [
                ["AUROC", _num(a.gaps.get("auroc"))],
                ["calibration-in-the-large", _num(a.gaps.get("calibration_in_the_large"))],
                ["flag rate", _pct(a.gaps.get("flag_rate"))],
            ],
        ),
        _Paragraph(
            f"Groups under {a.min_group} episodes are pooled into \u201c{POOLED_GROUP}\u201d "
            "(too few for a stable estimate, and a named group of a few people would describe "
            "those people); a blank value is shown as \u201cnot recorded\u201d. Every number "
            f"aggregates at least {a.min_cell} episodes. A gap can reflect chance when groups "
            "are small: read it with the intervals."
        ),
    ]
    return blocks


def _limitations(f: ModelCardFacts) -> list[_Block]:
    a = f.assessment
    temporal = ""
    if f.temporal is not None:
        t = _champion(f.temporal)
        temporal = (
            f" On later intakes the calibration intercept was "
            f"{_with_ci(t, 'cal_intercept')} (ideal 0)."
        )
    items = [
        "Observational data: the model learns associations in past records, not causes. A "
        "reason on the list is not proof that changing it prevents dropout, and the effect "
        "of acting on the list was not evaluated.",
        "The label depends on how discharges are coded: where some dropouts are recorded as "
        "other or transferred, or inactive episodes are closed late, the model learns that "
        "coding and its risks inherit it.",
        "Censoring: episodes still open at the export are censored; their examples count "
        "through inverse-probability-of-censoring weights, which assume that how long an "
        "example was followed (its date) says nothing about its outcome given its "
        "features. A clinic whose dropout rate changed over time breaks that assumption."
        f"{temporal}",
        "The caseload back-test scores past caseloads with a model trained on the other "
        "clients' whole history, later years included; it is not a fully prospective test.",
        "Therapist and site history encode past dropout rates: a client's risk moves with "
        "their therapist's and site's record, which can be unfair to staff whose past "
        "caseloads were harder. New therapists, and those with few labelled episodes, get "
        "the overall rate until they have a history.",
        f"Subgroup performance differs (largest gaps: {_gap_sentence(a)}); see Subgroups and "
        "read the gaps with their intervals.",
        f"Small groups (under {a.min_group} episodes) are pooled, so this card cannot show "
        "how the model does for small sites, programs or other small groups; check them "
        "locally before relying on the list there.",
        "Alliance ratings are collected unevenly: clients at sites or sessions without WAI "
        "or SRS ratings get risks from fewer signals.",
        "Calibration may drift as caseloads, practice or recording change: monitor the PSI "
        "input drift reported by dropout-risk score, compare predicted with observed dropout "
        "rates regularly, and retrain or recalibrate when they part.",
    ]
    items += [f"Held-out evaluation: {note}" for note in a.notes]
    if f.temporal is not None:
        items += [f"Temporal check: {note}" for note in f.temporal.notes]
    return [_Bullets(tuple(items))]


def _methods(f: ModelCardFacts) -> list[_Block]:
    a = f.assessment
    standard = [
        "This card follows Mitchell et al. 2019 (Model Cards for Model Reporting) and the "
        "TRIPOD+AI reporting items (Collins et al., BMJ 2024;385:e078378); the full "
        "evaluation report with calibration plots and decision curves is logged with the "
        "same run.",
        f"Intervals: {a.n_boot} bootstrap resamples of clients; subgroup and landmark intervals "
        "resample clients within the group.",
        f"Privacy: the card holds aggregates only; every number aggregates at least "
        f"{a.min_cell} episodes, and no client identifier or row appears in it.",
    ]
    return [_Bullets((*f.methods, *standard))]


def _sections(f: ModelCardFacts) -> dict[str, list[_Block]]:
    return {
        "model-details": _model_details(f),
        "intended-use": _intended_use(f),
        "training-data": _training_data(f),
        "label": _label(f),
        "model": _model(f),
        "caseload": _caseload(f),
        "performance": _performance(f),
        "subgroups": _subgroups(f),
        "limitations": _limitations(f),
        "methods": _methods(f),
    }


def _title(f: ModelCardFacts) -> str:
    return f"Model card: {f.model_name} version {f.version}"


# ----------------------------------------------------------------------------- markdown

# CommonMark backslash escapes: no value can open a tag, an entity, a link, code, a cell or
# a heading. Underscores stay: GitHub does not emphasise inside words like wai_bond_last.
_MD_SPECIAL = re.compile(r"[\\`*\[\]<>|&#~]")


def _md(value: object) -> str:
    """One line of markdown text showing ``value`` literally."""
    text = " ".join(str(value).split())  # a newline would end a table row
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _md_table(table: _Table) -> str:
    numeric = _numeric_columns(table)
    lines = [f"**{_md(table.caption)}**", ""]
    lines.append("| " + " | ".join(_md(h) for h in table.headers) + " |")
    lines.append("|" + "|".join(" ---: " if n else " --- " for n in numeric) + "|")
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _md_block(block: _Block) -> str:
    if isinstance(block, _Paragraph):
        return _md(block.text)
    if isinstance(block, _HowToRead):
        return "> **How to read:** " + _md(block.text)
    if isinstance(block, _Subheading):
        return "### " + _md(block.text)
    if isinstance(block, _Bullets):
        return "\n".join("- " + _md(item) for item in block.items)
    return _md_table(block)


def _render_markdown(title: str, sections: Mapping[str, list[_Block]]) -> str:
    parts = ["# " + _md(title)]
    for sid in CARD_SECTIONS:
        parts.append("## " + _md(CARD_SECTION_TITLES[sid]))
        parts += [_md_block(b) for b in sections[sid]]
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------------- HTML

# The evaluation report's look (fonts, Okabe-Ito blue, table style), repeated here rather
# than imported: its CSS is private to that module.
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;max-width:70rem;
color:#1a1a1a;background:#fff;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:2px solid #0072B2;padding-bottom:.2rem;
margin-top:2.2rem}h3{font-size:1.05rem;margin-top:1.4rem}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border-bottom:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td{overflow-wrap:break-word}
.how-to-read{background:#eef5fb;border-left:4px solid #0072B2;padding:.5rem .8rem}
nav ul{columns:2;list-style:none;padding-left:0}
@media print{body{margin:0;max-width:none;font-size:10pt}nav{display:none}
.table-wrap{overflow:visible}h2,h3{break-after:avoid}tr{break-inside:avoid}
thead{display:table-header-group}.how-to-read{background:none}}
"""


def _h(value: object) -> str:
    return html.escape(str(value), quote=True)


def _html_table(table: _Table) -> str:
    inner = html_table(table.headers, table.rows, table.caption, _numeric_columns(table))
    return f"<div class='table-wrap'>{inner}</div>"


def _html_block(block: _Block) -> str:
    if isinstance(block, _Paragraph):
        return f"<p>{_h(block.text)}</p>"
    if isinstance(block, _HowToRead):
        return f"<p class='how-to-read'><strong>How to read:</strong> {_h(block.text)}</p>"
    if isinstance(block, _Subheading):
        return f"<h3>{_h(block.text)}</h3>"
    if isinstance(block, _Bullets):
        return "<ul>" + "".join(f"<li>{_h(item)}</li>" for item in block.items) + "</ul>"
    return _html_table(block)


def _render_html(title: str, sections: Mapping[str, list[_Block]]) -> str:
    nav = "".join(
        f"<li><a href='#{sid}'>{_h(CARD_SECTION_TITLES[sid])}</a></li>" for sid in CARD_SECTIONS
    )
    body = "".join(
        f"<section id='{sid}' aria-labelledby='{sid}-title'>"
        f"<h2 id='{sid}-title'>{_h(CARD_SECTION_TITLES[sid])}</h2>"
        + "".join(_html_block(b) for b in sections[sid])
        + "</section>"
        for sid in CARD_SECTIONS
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_h(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_h(title)}</h1></header>"
        f"<nav aria-label='Sections'><ul>{nav}</ul></nav><main>{body}</main></body></html>\n"
    )


# ---------------------------------------------------------------------------------- API


def render_model_card(facts: ModelCardFacts) -> tuple[str, str]:
    """The model card as GitHub-flavoured markdown and as one self-contained HTML page.

    Parameters
    ----------
    facts
        Aggregates about the registered version; see `ModelCardFacts`.

    Returns
    -------
    tuple of str
        ``(markdown, html)``: the same sections (`CARD_SECTIONS`, in order) in both. The
        page has inline CSS only: no script, no external resource. Every value is escaped
        (``html.escape`` on the page, backslash escapes in markdown); missing numbers
        show as "–".

    Raises
    ------
    ValueError
        When the assessment (or the temporal one) has no champion row.
    """
    title = _title(facts)
    sections = _sections(facts)
    return _render_markdown(title, sections), _render_html(title, sections)


def write_model_card(facts: ModelCardFacts, directory: Path) -> tuple[Path, Path]:
    """Write ``model_card.md`` and ``model_card.html`` into ``directory``, each atomically.

    Both are rendered before either is written, so a rendering error leaves the folder
    untouched; a reader never sees a half-written file.

    Parameters
    ----------
    facts
        Aggregates about the registered version; see `ModelCardFacts`.
    directory
        Folder to write into; created if needed. Existing cards are replaced.

    Returns
    -------
    tuple of Path
        The markdown path and the HTML path.
    """
    markdown, page = render_model_card(facts)
    directory = Path(directory)
    return (
        write_text(markdown, directory / MARKDOWN_NAME),
        write_text(page, directory / HTML_NAME),
    )
