"""Fixtures of the synthetic-clinic tests."""

from __future__ import annotations

import pytest

from configs.config import load_config


@pytest.fixture(scope="module")
def instruments():
    return load_config().instruments
