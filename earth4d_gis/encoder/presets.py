"""Named encoder configurations as plain data (physical targets; resolutions are derived from them).

``seed-162d`` is the original Earth4D description: xyz 24 levels ~100 km -> 9.5 cm; three space-time
grids of 19 levels with time ~73 days -> 3.6 h; 2 features per level (162-D output); 2^24 table rows per
xyz level and 2^18 per space-time level. The original hash encoder has one per-level scale per grid, so
the space-time grids' spatial axes start at ~100 km and grow by their time axis's factor
((73 d / 3.6 h) ** (1/18) ~ 1.41), reaching ~205 m. Its tables hold ~0.7 billion parameters.

``default`` is sized for annual AlphaEarth data learned from scattered points: no level finer than the
samples can support (xyz stops at 20 m; time at one year, the data's own period) and all tables
together below 64 MB in fp32 with the model's bank of 200,000 samples, so it trains and runs on a
laptop. It stores 8 features per level in smaller tables (2^16 rows per xyz level, 2^14 per space-time
level, halved from 2^15 to make room for the sample bank) rather than 2 in 4x larger ones:
on the demo world (100k samples, equal epochs) that reaches a higher held-out cosine (~+0.005) and
trains faster. The xyz rows are spread by need: the four coarsest levels (100 -> 18 km) hold a few thousand
occupied vertices even for 200k samples, so they get 2^14 rows, and the three finest (62 -> 20 m), where
~20 sample vertices shared each row, get 2^17; the total is that of 16 x 2^16.
"""

from __future__ import annotations

from typing import Any

_SEED_TIME_COARSE_H = 73.0 * 24.0
_SEED_TIME_FINE_H = 3.6
_SEED_SPACE_COARSE_M = 100e3


def _seed_space_time(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "n_levels": 19,
        "log2_table_rows": 18,
        "space_coarse_m": _SEED_SPACE_COARSE_M,
        "space_fine_m": _SEED_SPACE_COARSE_M * _SEED_TIME_FINE_H / _SEED_TIME_COARSE_H,
        "time_coarse_h": _SEED_TIME_COARSE_H,
        "time_fine_h": _SEED_TIME_FINE_H,
    }


def _default_space_time(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "n_levels": 8,
        "log2_table_rows": 14,
        "space_coarse_m": 1000e3,
        "space_fine_m": 5e3,
        "time_coarse_h": 24.0 * 365.25 * 25.0,
        "time_fine_h": 24.0 * 365.25,
    }


PRESETS: dict[str, dict[str, Any]] = {
    "seed-162d": {
        "features_per_level": 2,
        "grids": [
            {
                "name": "xyz",
                "n_levels": 24,
                "log2_table_rows": 24,
                "space_coarse_m": _SEED_SPACE_COARSE_M,
                "space_fine_m": 0.095,
            },
            _seed_space_time("xyt"),
            _seed_space_time("yzt"),
            _seed_space_time("xzt"),
        ],
    },
    "default": {
        "features_per_level": 8,
        "grids": [
            {
                "name": "xyz",
                "n_levels": 16,
                "log2_table_rows": 16,
                "log2_level_rows": [14] * 4 + [16] * 9 + [17] * 3,
                "space_coarse_m": 100e3,
                "space_fine_m": 20.0,
            },
            _default_space_time("xyt"),
            _default_space_time("yzt"),
            _default_space_time("xzt"),
        ],
    },
}
