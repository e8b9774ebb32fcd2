"""What a model card says about one registered version: the facts, aggregates only."""

from __future__ import annotations

from dataclasses import dataclass

from models.assessment import Assessment


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
