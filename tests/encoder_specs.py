"""Small preset-style encoder definitions for tests that train or save models (fast, a few MB at most)."""

from __future__ import annotations

from typing import Any

YEAR_H = 24 * 365.25


def small_spec(
    xyz: tuple[int, int, float, float], space_time: tuple[int, int, float, float], years: float = 25.0
) -> dict[str, Any]:
    """Two features per level; ``xyz`` and ``space_time`` are (levels, log2 table rows, coarsest and finest
    spatial cell in metres); the space-time grids' time cells go from ``years`` to one year."""
    levels, rows, coarse, fine = xyz
    st_levels, st_rows, st_coarse, st_fine = space_time
    return {
        "features_per_level": 2,
        "grids": [
            {
                "name": "xyz",
                "n_levels": levels,
                "log2_table_rows": rows,
                "space_coarse_m": coarse,
                "space_fine_m": fine,
            },  # fmt: skip
            *[
                {
                    "name": name,
                    "n_levels": st_levels,
                    "log2_table_rows": st_rows,
                    "space_coarse_m": st_coarse,
                    "space_fine_m": st_fine,
                    "time_coarse_h": years * YEAR_H,
                    "time_fine_h": YEAR_H,
                }
                for name in ("xyt", "yzt", "xzt")
            ],
        ],
    }
