"""Fixtures shared across test modules."""

from __future__ import annotations

import pytest
from encoder_specs import small_spec

from earth4d_gis.encoder import EncoderConfig
from earth4d_gis.geodesy import TimeSpan


@pytest.fixture(scope="session")
def tiny_config() -> EncoderConfig:
    """A few-kB encoder (6 xyz levels 5 km -> 50 m, 2 levels per space-time grid) for fast model files."""
    spec = small_spec((6, 12, 5e3, 50.0), (2, 10, 1e6, 5e5))
    return EncoderConfig.from_spec("tiny", spec, TimeSpan())
