"""Shared data for the model tests."""

from __future__ import annotations

from features.landmarks import build_examples, model_inputs
from models.training import targets
from pipeline.contract.validation import validate_tables
from pipeline.synthetic import generate_cohort


def labelled_inputs(config, n_clients: int, seed: int):
    """Model inputs, labels and weights of the examples of a synthetic cohort that carry
    weight (``features.schema.MODEL_INPUTS`` rows, ``y``, ``w``)."""
    clients, sessions = generate_cohort(n_clients, seed, config.instruments)
    tables = validate_tables(
        clients, sessions, config.instruments, clients_file="c.csv", sessions_file="s.csv"
    )
    examples, _, _ = build_examples(tables, config)
    t = targets(examples, config.label.horizon_days)
    seen = examples[t.w > 0].reset_index(drop=True)
    return model_inputs(seen), t.y[t.w > 0], t.w[t.w > 0]
