"""Encoder configuration: four 3-D grids whose levels are derived from physical cell sizes.

A grid's levels are fixed by its coarsest and finest cell size per axis (metres in space, hours in
time) and its number of levels: the growth factor is b = (coarse / fine) ** (1 / (L - 1)), level l has
cells of ``coarse / b**l``, rounded to a whole number of cells across the axis. The integer resolutions
are what the kernels use, so ``resolution_table`` reports the cell sizes they really give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..geodesy import ECEF_SCALE, TimeSpan

SPACE_EXTENT_M = 2.0 * ECEF_SCALE
"""The unit cube spans 12.8e6 m on each spatial axis."""

GRID_AXES: dict[str, tuple[int, int, int]] = {
    "xyz": (0, 1, 2),
    "xyt": (0, 1, 3),
    "yzt": (1, 2, 3),
    "xzt": (0, 2, 3),
}
"""Input columns (x=0, y=1, z=2, t=3) of each grid, in output order."""


def _cells(extent: float, cell: float) -> int:
    return max(1, int(round(extent / cell)))


def _growth(coarse: float, fine: float, levels: int) -> float:
    return (coarse / fine) ** (1.0 / (levels - 1)) if levels > 1 else 1.0


@dataclass(frozen=True)
class GridConfig:
    """One 3-D grid: its levels, table size, and the physical targets its resolutions come from.

    ``time_coarse_h``/``time_fine_h`` are ``None`` for the purely spatial ``xyz`` grid.
    ``log2_level_rows`` optionally sizes each level's hash table on its own (log2 rows, one per level;
    empty: every level has ``2 ** log2_table_rows``), so rows can move from coarse levels, whose few
    occupied cells leave most of a table unused, to fine ones, where cells share rows.
    ``resolutions`` (cells per axis, per level) is derived from the targets unless given, which is how a
    stored model keeps exactly the resolutions it was trained with.
    """

    name: str
    n_levels: int
    log2_table_rows: int
    space_coarse_m: float
    space_fine_m: float
    time_coarse_h: float | None = None
    time_fine_h: float | None = None
    time_span: TimeSpan = field(default_factory=TimeSpan)
    resolutions: tuple[tuple[int, int, int], ...] = ()
    log2_level_rows: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.name not in GRID_AXES:
            raise InputError(f"grid name {self.name!r} is not one of {', '.join(GRID_AXES)}")
        if self.n_levels < 1:
            raise InputError(f"grid {self.name}: number of levels {self.n_levels} is below 1")
        if not 1 <= self.log2_table_rows <= 40:
            raise InputError(f"grid {self.name}: log2 table rows {self.log2_table_rows} is outside 1..40")
        if not 0 < self.space_fine_m <= self.space_coarse_m:
            raise InputError(
                f"grid {self.name}: spatial cell sizes {self.space_coarse_m} -> {self.space_fine_m} m "
                "must be positive and go from coarse to fine"
            )
        if self.has_time:
            if self.time_coarse_h is None or self.time_fine_h is None:
                raise InputError(f"grid {self.name} needs a coarsest and finest time cell in hours")
            if not 0 < self.time_fine_h <= self.time_coarse_h:
                raise InputError(
                    f"grid {self.name}: time cell sizes {self.time_coarse_h} -> {self.time_fine_h} h "
                    "must be positive and go from coarse to fine"
                )
        level_rows = tuple(int(r) for r in self.log2_level_rows)
        if level_rows and (len(level_rows) != self.n_levels or not all(1 <= r <= 40 for r in level_rows)):
            raise InputError(
                f"grid {self.name}: per-level log2 table rows {list(level_rows)} must be {self.n_levels} "
                "values in 1..40"
            )
        object.__setattr__(self, "log2_level_rows", level_rows)
        if not self.resolutions:
            object.__setattr__(self, "resolutions", self._derive_resolutions())
        res = tuple(tuple(int(n) for n in r) for r in self.resolutions)
        if len(res) != self.n_levels or any(len(r) != 3 or min(r) < 1 for r in res):
            raise InputError(f"grid {self.name}: resolutions {self.resolutions} do not match its levels")
        object.__setattr__(self, "resolutions", res)

    @property
    def axes(self) -> tuple[int, int, int]:
        """Input columns this grid reads."""
        return GRID_AXES[self.name]

    @property
    def has_time(self) -> bool:
        return 3 in self.axes

    @property
    def space_growth(self) -> float:
        return _growth(self.space_coarse_m, self.space_fine_m, self.n_levels)

    @property
    def time_growth(self) -> float | None:
        if not self.has_time:
            return None
        return _growth(self.time_coarse_h, self.time_fine_h, self.n_levels)  # type: ignore[arg-type]

    @property
    def table_rows(self) -> int:
        """Rows of a hashed level's table, unless ``log2_level_rows`` sizes the level on its own."""
        return 1 << self.log2_table_rows

    def level_table_rows(self, level: int) -> int:
        """Rows of this level's table when it is hashed (a power of two)."""
        return 1 << self.log2_level_rows[level] if self.log2_level_rows else self.table_rows

    def _derive_resolutions(self) -> tuple[tuple[int, int, int], ...]:
        span_h = self.time_span.seconds / 3600.0
        out = []
        for level in range(self.n_levels):
            space_cell = self.space_coarse_m / self.space_growth**level
            per_axis = []
            for axis in self.axes:
                if axis == 3:
                    time_cell = self.time_coarse_h / self.time_growth**level  # type: ignore[operator]
                    per_axis.append(_cells(span_h, time_cell))
                else:
                    per_axis.append(_cells(SPACE_EXTENT_M, space_cell))
            out.append(tuple(per_axis))
        return tuple(out)

    def level_vertices(self, level: int) -> int:
        """Vertices of a level's full lattice, ``prod(N + 1)``."""
        return math.prod(n + 1 for n in self.resolutions[level])

    def level_is_dense(self, level: int) -> bool:
        """A level is stored densely (one row per vertex) when its lattice fits the table."""
        return self.level_vertices(level) <= self.level_table_rows(level)

    def level_rows(self, level: int) -> int:
        return self.level_vertices(level) if self.level_is_dense(level) else self.level_table_rows(level)

    def level_offsets(self) -> list[int]:
        """Row offset of each level in the grid's table, plus the total rows at the end."""
        offsets = [0]
        for level in range(self.n_levels):
            offsets.append(offsets[-1] + self.level_rows(level))
        return offsets

    @property
    def total_rows(self) -> int:
        return self.level_offsets()[-1]

    def cell_size(self, level: int, axis_pos: int) -> float:
        """True cell size along the grid's ``axis_pos``-th axis: metres in space, hours in time."""
        n = self.resolutions[level][axis_pos]
        if self.axes[axis_pos] == 3:
            return self.time_span.seconds / 3600.0 / n
        return SPACE_EXTENT_M / n

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_levels": self.n_levels,
            "log2_table_rows": self.log2_table_rows,
            "space_coarse_m": self.space_coarse_m,
            "space_fine_m": self.space_fine_m,
            "time_coarse_h": self.time_coarse_h,
            "time_fine_h": self.time_fine_h,
            "resolutions": [list(r) for r in self.resolutions],
            **({"log2_level_rows": list(self.log2_level_rows)} if self.log2_level_rows else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], time_span: TimeSpan) -> GridConfig:
        return cls(
            name=str(d["name"]),
            n_levels=int(d["n_levels"]),
            log2_table_rows=int(d["log2_table_rows"]),
            space_coarse_m=float(d["space_coarse_m"]),
            space_fine_m=float(d["space_fine_m"]),
            time_coarse_h=None if d.get("time_coarse_h") is None else float(d["time_coarse_h"]),
            time_fine_h=None if d.get("time_fine_h") is None else float(d["time_fine_h"]),
            time_span=time_span,
            resolutions=tuple(tuple(int(n) for n in r) for r in d.get("resolutions", ())),
            log2_level_rows=tuple(int(r) for r in d.get("log2_level_rows", ())),
        )


@dataclass(frozen=True)
class EncoderConfig:
    """The whole Earth4D encoder: grids in output order [xyz | xyt | yzt | xzt], features per level."""

    grids: tuple[GridConfig, ...]
    features_per_level: int = 2
    smoothstep: bool = False
    time_span: TimeSpan = field(default_factory=TimeSpan)
    name: str = "custom"

    def __post_init__(self) -> None:
        names = tuple(g.name for g in self.grids)
        if names != tuple(GRID_AXES):
            raise InputError(f"encoder grids {names} must be exactly {tuple(GRID_AXES)} in that order")
        if self.features_per_level not in (1, 2, 4, 8):
            raise InputError(f"features per level {self.features_per_level} is not 1, 2, 4 or 8")
        for g in self.grids:
            if g.time_span != self.time_span:
                raise InputError(f"grid {g.name} was derived for another time span than the encoder's")

    @classmethod
    def preset(cls, name: str, time_span: TimeSpan | None = None) -> EncoderConfig:
        """A named configuration (``default`` or ``seed-162d``), derived for ``time_span``."""
        from .presets import PRESETS

        if name not in PRESETS:
            raise InputError(f"encoder preset {name!r} is not one of {', '.join(sorted(PRESETS))}")
        return cls.from_spec(name, PRESETS[name], time_span or TimeSpan())

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any], time_span: TimeSpan) -> EncoderConfig:
        """Build from a preset-style plain definition (grid targets without resolutions)."""
        grids = tuple(GridConfig(time_span=time_span, **g) for g in spec["grids"])
        return cls(
            grids=grids,
            features_per_level=int(spec.get("features_per_level", 2)),
            smoothstep=bool(spec.get("smoothstep", False)),
            time_span=time_span,
            name=name,
        )

    def grid(self, name: str) -> GridConfig:
        for g in self.grids:
            if g.name == name:
                return g
        raise KeyError(name)

    @property
    def n_levels(self) -> int:
        return sum(g.n_levels for g in self.grids)

    @property
    def output_dim(self) -> int:
        return self.n_levels * self.features_per_level

    @property
    def n_params(self) -> int:
        return sum(g.total_rows for g in self.grids) * self.features_per_level

    @property
    def size_mb_fp32(self) -> float:
        return self.n_params * 4 / 1e6

    def grid_output_slices(self) -> dict[str, slice]:
        """Columns of each grid in the encoder output."""
        out, start = {}, 0
        for g in self.grids:
            width = g.n_levels * self.features_per_level
            out[g.name] = slice(start, start + width)
            start += width
        return out

    def resolution_table(self) -> list[dict[str, Any]]:
        """One row per grid and level with the true cell sizes the integer resolutions give.

        Keys: grid, level, resolution (cells per axis), cell_m (spatial cell, metres), cell_h and
        cell_days (time cell, or None), storage ("dense" or "hashed"), rows.
        """
        rows = []
        for g in self.grids:
            for level in range(g.n_levels):
                space = [g.cell_size(level, i) for i, a in enumerate(g.axes) if a != 3]
                time_h = g.cell_size(level, 2) if g.has_time else None
                rows.append(
                    {
                        "grid": g.name,
                        "level": level,
                        "resolution": list(g.resolutions[level]),
                        "cell_m": max(space),
                        "cell_h": time_h,
                        "cell_days": None if time_h is None else time_h / 24.0,
                        "storage": "dense" if g.level_is_dense(level) else "hashed",
                        "rows": g.level_rows(level),
                    }
                )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (stored inside model files)."""
        return {
            "name": self.name,
            "features_per_level": self.features_per_level,
            "smoothstep": self.smoothstep,
            "time_span": self.time_span.to_dict(),
            "grids": [g.to_dict() for g in self.grids],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderConfig:
        """Inverse of ``to_dict``; raises ``InputError`` naming what is missing or wrong."""
        try:
            span = TimeSpan.from_dict(d["time_span"])
            return cls(
                grids=tuple(GridConfig.from_dict(g, span) for g in d["grids"]),
                features_per_level=int(d["features_per_level"]),
                smoothstep=bool(d["smoothstep"]),
                time_span=span,
                name=str(d.get("name", "custom")),
            )
        except (KeyError, TypeError) as exc:
            raise InputError(f"encoder configuration is incomplete or malformed ({exc!r})") from None
