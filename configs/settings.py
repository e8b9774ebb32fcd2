"""What a model remembers of the configuration it was trained with.

A trained model must rebuild its features exactly as training built them, whatever the
configuration of the run that scores with it: the instruments and their scales, the
feature settings, the tier rule it was assessed with and the horizon of
``risk_within_horizon``. :class:`FeatureSettings` carries them from training to scoring,
serving and promotion. The model stores them as plain JSON (``to_dict``), so a model
file holds no configuration object and models saved before this class existed still load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from configs.config import Config, FeaturesConfig, InstrumentsConfig, TiersConfig

# models trained before the horizon existed had none stored; this is the label's default
DEFAULT_HORIZON_DAYS = 60


@dataclass(frozen=True)
class FeatureSettings:
    """The configuration a model was trained with, as far as scoring needs it.

    Parameters
    ----------
    instruments
        Rating instruments, their scales and how subscales are derived.
    features
        Landmarks, snapshots and the other feature settings.
    tiers
        The tier rule stored with the model (the scoring run's config may override it).
    horizon_days
        The horizon of ``risk_within_horizon``.
    """

    instruments: InstrumentsConfig
    features: FeaturesConfig
    tiers: TiersConfig
    horizon_days: int = DEFAULT_HORIZON_DAYS

    @classmethod
    def from_config(cls, config: Config) -> FeatureSettings:
        """The settings of a training run's configuration."""
        return cls(
            instruments=config.instruments,
            features=config.features,
            tiers=config.scoring.tiers,
            horizon_days=config.label.horizon_days,
        )

    @classmethod
    def read(cls, stored: Mapping) -> FeatureSettings:
        """The settings a model stored (``model.feature_settings``), validated again."""
        return cls(
            instruments=InstrumentsConfig.model_validate(stored["instruments"]),
            features=FeaturesConfig.model_validate(stored["features"]),
            tiers=TiersConfig.model_validate(stored["tiers"]),
            horizon_days=int(stored.get("horizon_days", DEFAULT_HORIZON_DAYS)),
        )

    def to_dict(self) -> dict:
        """The JSON form stored in the model."""
        return {
            "instruments": self.instruments.model_dump(mode="json"),
            "features": self.features.model_dump(mode="json"),
            "tiers": self.tiers.model_dump(mode="json"),
            "horizon_days": self.horizon_days,
        }
