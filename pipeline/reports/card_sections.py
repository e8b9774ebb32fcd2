"""What each section of the model card says, as blocks of plain text.

One function per section of `pipeline.reports.model_card.CARD_SECTIONS`; `sections`
returns them all. The blocks (`pipeline.reports.card_blocks`) hold unescaped text, so the
Markdown and the HTML card say the same thing and each escapes it for its format.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from models.assessment import CHAMPION, Assessment
from models.backtest import TARGET_LABELS
from models.subgroups import AGE_BANDS, POOLED_GROUP
from pipeline.reports.card_blocks import Block, Bullets, HowToRead, Paragraph, Subheading, table
from pipeline.reports.formatters import DASH, count, finite, num, pct, with_ci
from pipeline.reports.tables import LANDMARK_HEADERS
from pipeline.reports.vocabulary import in_family_order

if TYPE_CHECKING:
    from pipeline.reports.card_facts import ModelCardFacts

_CALIBRATION_WORDS = {
    "sigmoid": "sigmoid (Platt scaling)",
    "isotonic": "isotonic regression",
}
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
                count(r.get("n_episodes")),
                pct(r.get("prevalence")),
                with_ci(r, "auroc"),
                num(r.get("auprc")),
                num(r.get("brier")),
                with_ci(r, "cal_slope"),
                with_ci(r, "cal_intercept"),
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


def _model_details(f: ModelCardFacts) -> list[Block]:
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
        f"dropout. On clients held out from training: AUROC {with_ci(champion, 'auroc')}, "
        f"calibration slope {with_ci(champion, 'cal_slope')} (ideal 1), calibration "
        f"intercept {with_ci(champion, 'cal_intercept')} (ideal 0)."
    )
    return [Paragraph(glance), table("This version", ["field", "value"], rows)]


def _intended_use(f: ModelCardFacts) -> list[Block]:
    bands = _age_bands(f.assessment)
    ages = f" (age bands seen among held-out clients: {', '.join(bands)})" if bands else ""
    return [
        Paragraph(
            "Intended users: treatment teams and clinical leads who review the weekly risk "
            "list of their active caseload, and the data scientists who maintain and check "
            "the model."
        ),
        Paragraph(
            "Intended use: ranking active clients by the calibrated probability that their "
            "current episode ends in dropout, each with the three strongest reasons, to "
            "decide whom to contact first. The list supports a clinical conversation; the "
            "decision whether and how to act stays with the clinicians who know the client."
        ),
        Subheading("Not for"),
        Bullets(
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


def _training_data(f: ModelCardFacts) -> list[Block]:
    d, s = f.data, f.split
    start, end = f.data_window
    rows = [
        ["clients (treatment episodes)", count(d.get("data_clients"))],
        ["sessions (scheduled appointments)", count(d.get("data_sessions"))],
        ["labelled episodes (dropout or completed)", count(d.get("data_labelled_episodes"))],
        ["dropout rate among labelled episodes", pct(d.get("data_dropout_rate"))],
        ["sites", count(d.get("data_sites"))],
        ["therapists", count(d.get("data_therapists"))],
        ["appointments attended", pct(d.get("data_attendance_rate"))],
        ["attended sessions with a WAI rating", pct(d.get("data_wai_rated_share"))],
        ["attended sessions with an SRS rating", pct(d.get("data_srs_rated_share"))],
        ["training examples (landmarks and snapshots)", count(d.get("data_training_examples"))],
        ["input rows rejected by validation", count(d.get("data_rejected_rows"))],
        ["development clients", count(s.get("n_development_clients"))],
        ["held-out test clients", count(s.get("n_test_clients"))],
    ]
    return [
        Paragraph(f"Data window: intakes from {start}, sessions up to {end} (months)."),
        table("Training data in numbers", ["measure", "value"], rows),
        Paragraph(
            "Held-out clients were split off by client before any fitting; they took no part "
            "in fitting, model selection or calibration, and every number under Performance "
            "and Subgroups comes from them."
        ),
    ]


def _label(f: ModelCardFacts) -> list[Block]:
    inactive = bool(f.label.get("inactive_as_dropout", False))
    days = f.label.get("inactive_days", DASH)
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
    return [Bullets(tuple(items)), Paragraph(when)]


def _caseload(f: ModelCardFacts) -> list[Block]:
    frame = f.caseload
    if frame is None or not len(frame):
        return [Paragraph("No caseload back-test was recorded for this version.")]
    rows = []
    for _, r in frame[frame["date"].eq("pooled")].iterrows():
        rows.append(
            [
                TARGET_LABELS.get(r["target"], str(r["target"])),
                with_ci(r, "auroc"),
                num(r["auprc"]),
                num(r["brier"]),
                with_ci(r, "cal_slope"),
                with_ci(r, "calibration_in_the_large"),
                count(r["n_rows"]),
            ]
        )
    return [
        HowToRead(
            "The held-out clients' caseloads rebuilt on past dates (what an export then "
            "would have shown), scored by this model, against what happened since. "
            "Observed − predicted above 0 means risks too low on average; a slope below 1 "
            "means risks too extreme. Open episodes are censored (IPCW). This is how the "
            "list is used, so these are the figures to judge it by; `promote` gates on them."
        ),
        Paragraph(f.caseload_note),
        table(
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


def _model(f: ModelCardFacts) -> list[Block]:
    params = json.dumps(f.selected_params, sort_keys=True, default=str)
    rows = [
        ["candidate", f.selected],
        ["parameters", params],
        ["calibration", _CALIBRATION_WORDS.get(f.calibration, f.calibration)],
        ["flag threshold (subgroup flag rates)", f"{f.assessment.flag_threshold:.2f}"],
    ]
    feature_rows = [
        [family, str(len(f.features[family])), ", ".join(map(str, f.features[family]))]
        for family in in_family_order(f.features)
    ]
    total = sum(len(names) for names in f.features.values())
    blocks: list[Block] = [table("Selected model", ["item", "value"], rows)]
    blocks.append(Subheading("Features"))
    if feature_rows:
        blocks += [
            Paragraph(f"{total} features in {len(feature_rows)} families."),
            table("Features by family", ["family", "count", "features"], feature_rows),
        ]
    else:
        blocks.append(Paragraph("No feature list was recorded for this version."))
    blocks += [Subheading("Risk tiers"), Paragraph(f.tiers)]
    return blocks


def _performance(f: ModelCardFacts) -> list[Block]:
    """The held-out results, the temporal check and the results by landmark."""
    a = f.assessment
    champion = _champion(a)
    if a.n_boot > 0:
        intervals = (
            f"95% intervals are percentile intervals from {a.n_boot} bootstrap resamples of "
            "clients (all of a client's rows resampled together)."
        )
    else:
        intervals = "No bootstrap intervals were computed for this version (n_boot = 0)."
    blocks: list[Block] = [
        HowToRead(
            "AUROC is the chance that a client who dropped out got a higher risk than one "
            "who completed (0.5 is a coin toss, 1 is perfect); compare AUPRC with the "
            "dropout rate. Brier score: lower is better. A calibration slope below 1 means "
            "risks are too extreme; an intercept above 0 means risks are too low on average "
            "(below 0: too high)."
        ),
        Paragraph(
            f"Held-out set: {count(f.split.get('n_test_clients'))} clients, "
            f"{count(champion.get('n_episodes'))} labelled episodes, dropout rate "
            f"{pct(champion.get('prevalence'))}. {intervals} The baselines are simpler "
            "models on the same clients; the selected model should beat them clearly."
        ),
        table(
            "Selected model (champion) and baselines on held-out clients",
            _OVERALL_HEADERS,
            _overall_rows(a),
        ),
        Subheading("Temporal check"),
    ]
    blocks += _temporal_check(f, champion)
    blocks.append(Subheading("AUROC by landmark"))
    return blocks + _by_landmark(a)


def _temporal_check(f: ModelCardFacts, champion: dict) -> list[Block]:
    """The champion refitted on earlier intakes and measured on later ones, or why not."""
    if f.temporal is None:
        reason = f" ({f.temporal_note})" if f.temporal_note else ""
        return [
            Paragraph(
                f"No temporal check was run for this version{reason}. The results above "
                "come from held-out clients of the same period, which tends to be more "
                "optimistic than performance on later intakes."
            )
        ]
    t = _champion(f.temporal)
    text = "The chosen configuration refitted on earlier intakes and measured on later ones"
    text += f" ({f.temporal_note})." if f.temporal_note else "."
    before, after = finite(champion.get("auroc")), finite(t.get("auroc"))
    if before is not None and after is not None:
        text += (
            f" Champion AUROC {after:.3f} on later intakes against {before:.3f} on "
            f"held-out clients of the training period ({after - before:+.3f})."
        )
    return [
        Paragraph(text),
        table("Temporal check: later intakes", _OVERALL_HEADERS, _overall_rows(f.temporal)),
    ]


def _by_landmark(a: Assessment) -> list[Block]:
    """The selected model at each landmark."""
    landmark_rows = [
        [
            str(int(r["landmark"])),
            count(r["n_episodes"]),
            pct(r["prevalence"]),
            with_ci(r, "auroc"),
            num(r["cal_intercept"]),
            pct(r["mean_risk"]),
        ]
        for r in a.by_landmark.to_dict("records")
    ]
    if landmark_rows:
        return [
            Paragraph(
                "A landmark is the number of appointments seen when the risk was computed; "
                "early landmarks carry less information, so a lower AUROC there is expected."
            ),
            table("Selected model by landmark", list(LANDMARK_HEADERS), landmark_rows),
        ]
    return [Paragraph("No landmark was reached by enough clients to show.")]


def _gap_sentence(a: Assessment) -> str:
    return (
        f"AUROC {num(a.gaps.get('auroc'))}, calibration-in-the-large "
        f"{num(a.gaps.get('calibration_in_the_large'))}, flag rate "
        f"{pct(a.gaps.get('flag_rate'))}"
    )


def _subgroups(f: ModelCardFacts) -> list[Block]:
    a = f.assessment
    blocks: list[Block] = [
        HowToRead(
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
            count(r["n_episodes"]),
            pct(r["prevalence"]),
            with_ci(r, "auroc"),
            num(r["calibration_in_the_large"]),
            pct(r["flag_rate"]),
        ]
        for r in a.subgroups.to_dict("records")
    ]
    if rows:
        blocks.append(
            table(
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
        blocks.append(Paragraph("No subgroup attribute was available for this evaluation."))
    blocks += [
        table(
            "Largest gaps: the largest difference between two groups of the same attribute",
            ["measure", "largest gap between groups"],
            [
                ["AUROC", num(a.gaps.get("auroc"))],
                ["calibration-in-the-large", num(a.gaps.get("calibration_in_the_large"))],
                ["flag rate", pct(a.gaps.get("flag_rate"))],
            ],
        ),
        Paragraph(
            f"Groups under {a.min_group} episodes are pooled into \u201c{POOLED_GROUP}\u201d "
            "(too few for a stable estimate, and a named group of a few people would describe "
            "those people); a blank value is shown as \u201cnot recorded\u201d. Every number "
            f"aggregates at least {a.min_cell} episodes. A gap can reflect chance when groups "
            "are small: read it with the intervals."
        ),
    ]
    return blocks


def _limitations(f: ModelCardFacts) -> list[Block]:
    a = f.assessment
    temporal = ""
    if f.temporal is not None:
        t = _champion(f.temporal)
        temporal = (
            f" On later intakes the calibration intercept was "
            f"{with_ci(t, 'cal_intercept')} (ideal 0)."
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
    return [Bullets(tuple(items))]


def _methods(f: ModelCardFacts) -> list[Block]:
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
    return [Bullets((*f.methods, *standard))]


def sections(f: ModelCardFacts) -> dict[str, list[Block]]:
    """Every section's blocks, by section id."""
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


def title(f: ModelCardFacts) -> str:
    """The card's title, for both formats."""
    return f"Model card: {f.model_name} version {f.version}"
