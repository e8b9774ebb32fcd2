"""What a model remembers of its training configuration."""

from __future__ import annotations

import json

import pytest

from configs.config import load_config
from configs.settings import DEFAULT_HORIZON_DAYS, FeatureSettings


def test_the_stored_form_is_plain_json_and_reads_back_the_same():
    config = load_config(None)
    settings = FeatureSettings.from_config(config)
    stored = json.loads(json.dumps(settings.to_dict()))
    assert FeatureSettings.read(stored) == settings
    assert stored["horizon_days"] == config.label.horizon_days
    assert settings.tiers == config.scoring.tiers


def test_a_model_stored_before_the_horizon_existed_gets_the_default_horizon():
    stored = FeatureSettings.from_config(load_config(None)).to_dict()
    del stored["horizon_days"]
    assert FeatureSettings.read(stored).horizon_days == DEFAULT_HORIZON_DAYS


def test_stored_settings_are_validated_again():
    stored = FeatureSettings.from_config(load_config(None)).to_dict()
    stored["tiers"]["high"] = 2.0
    with pytest.raises(ValueError, match="high"):
        FeatureSettings.read(stored)
