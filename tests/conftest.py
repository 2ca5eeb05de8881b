"""Fixtures shared across test modules."""

from __future__ import annotations

import pytest

from earth4d_gis.encoder import EncoderConfig
from earth4d_gis.geodesy import TimeSpan


@pytest.fixture(scope="session")
def tiny_config() -> EncoderConfig:
    """A few-kB encoder (6 xyz levels 5 km -> 50 m, 2 levels per space-time grid) for fast model files."""

    def space_time(name: str) -> dict:
        year_h = 24 * 365.25
        return {"name": name, "n_levels": 2, "log2_table_rows": 10, "space_coarse_m": 1e6,
                "space_fine_m": 5e5, "time_coarse_h": 25 * year_h, "time_fine_h": year_h}  # fmt: skip

    xyz = {"name": "xyz", "n_levels": 6, "log2_table_rows": 12, "space_coarse_m": 5e3, "space_fine_m": 50.0}
    spec = {"grids": [xyz, space_time("xyt"), space_time("yzt"), space_time("xzt")]}
    return EncoderConfig.from_spec("tiny", spec, TimeSpan())
