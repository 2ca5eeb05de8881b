"""A coarse elevation prior from the training samples, for rasterizing when no DEM is given.

The model needs an elevation per pixel. Without a DEM, the best guess we have is what the training data
said nearby: the mean sample elevation in a fine lat/lon cell, else in a coarse one, else 0 m, interpolated
between cell centres so that maps show no straight steps along cell edges (the model's output depends on
height). Only cells that hold samples are stored, so the prior stays small (a few hundred kB for millions
of samples).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .geodesy import wrap_longitude

DEFAULT_CELLS_DEG = (0.1, 1.0)


def _cell_keys(lat: np.ndarray, lon: np.ndarray, cell_deg: float) -> np.ndarray:
    rows = np.floor((np.clip(lat, -90.0, 90.0) + 90.0) / cell_deg).astype(np.int64)
    cols = np.floor((wrap_longitude(lon) + 180.0) / cell_deg).astype(np.int64)
    n_cols = int(np.ceil(360.0 / cell_deg))
    return rows * n_cols + np.minimum(cols, n_cols - 1)


@dataclass(frozen=True)
class _Level:
    cell_deg: float
    keys: np.ndarray  # sorted int64 cell keys
    values: np.ndarray  # float32 mean elevation per key


@dataclass(frozen=True)
class ElevationPrior:
    """Sparse multi-level grid of mean sample elevation (metres); finer levels first."""

    levels: tuple[_Level, ...] = field(default_factory=tuple)

    @classmethod
    def fit(
        cls,
        lat: np.ndarray,
        lon: np.ndarray,
        elevation: np.ndarray,
        cells_deg: tuple[float, ...] = DEFAULT_CELLS_DEG,
    ) -> ElevationPrior:
        """Mean elevation of the samples in each occupied cell, at each cell size."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        elevation = np.asarray(elevation, dtype=np.float64)
        ok = np.isfinite(lat) & np.isfinite(lon) & np.isfinite(elevation)
        levels = []
        for cell in cells_deg:
            keys = _cell_keys(lat[ok], lon[ok], cell)
            unique, inverse = np.unique(keys, return_inverse=True)
            sums = np.bincount(inverse, weights=elevation[ok], minlength=unique.size)
            counts = np.bincount(inverse, minlength=unique.size)
            levels.append(_Level(float(cell), unique, (sums / np.maximum(counts, 1)).astype(np.float32)))
        return cls(tuple(levels))

    def _matches(self, lat: np.ndarray, lon: np.ndarray):
        """Per level, finest first: (level, position in its keys, mask of points whose cell it holds)."""
        for level in self.levels:
            if level.keys.size == 0:
                continue
            keys = _cell_keys(lat, lon, level.cell_deg)
            pos = np.clip(np.searchsorted(level.keys, keys), 0, level.keys.size - 1)
            yield level, pos, level.keys[pos] == keys

    def lookup(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Elevation in metres per point (float64), continuous in position (no steps at cell edges).

        Bilinear between the centres of the four nearest cells of the finest level; a centre whose cell
        holds no sample takes the next coarser level's value there (the same interpolation), and 0 m
        where no level holds samples. At the centre of an occupied fine cell it is that cell's mean.
        """
        lat, lon = np.broadcast_arrays(
            np.atleast_1d(np.asarray(lat, dtype=np.float64)), np.atleast_1d(np.asarray(lon, dtype=np.float64))
        )
        levels = [level for level in self.levels if level.keys.size]
        return self._interpolate(levels, lat.ravel(), lon.ravel()).reshape(lat.shape)

    @classmethod
    def _interpolate(cls, levels: list[_Level], lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        if not levels or lat.size == 0:
            return np.zeros(lat.shape, dtype=np.float64)
        level, cell = levels[0], levels[0].cell_deg
        n_rows, n_cols = int(np.ceil(180.0 / cell)), int(np.ceil(360.0 / cell))
        fy = (np.clip(lat, -90.0, 90.0) + 90.0) / cell - 0.5
        fx = (wrap_longitude(lon) + 180.0) / cell - 0.5
        row0, col0 = np.floor(fy), np.floor(fx)
        ty, tx = fy - row0, fx - col0
        out = np.zeros(lat.shape, dtype=np.float64)
        for dr, dc, weight in (
            (0, 0, (1 - ty) * (1 - tx)),
            (0, 1, (1 - ty) * tx),
            (1, 0, ty * (1 - tx)),
            (1, 1, ty * tx),
        ):
            rows = np.clip(row0 + dr, 0, n_rows - 1).astype(np.int64)
            cols = np.mod(col0 + dc, n_cols).astype(np.int64)
            keys = rows * n_cols + cols
            pos = np.clip(np.searchsorted(level.keys, keys), 0, level.keys.size - 1)
            hit = level.keys[pos] == keys
            value = np.where(hit, level.values[pos], 0.0).astype(np.float64)
            if not hit.all():
                miss = ~hit
                centre_lat = (rows[miss] + 0.5) * cell - 90.0
                centre_lon = (cols[miss] + 0.5) * cell - 180.0
                value[miss] = cls._interpolate(levels[1:], centre_lat, centre_lon)
            out += weight * value
        return out

    def coverage(self, lat: np.ndarray, lon: np.ndarray) -> float:
        """Fraction of the points that fall in a cell with samples (for the log)."""
        lat, lon = np.broadcast_arrays(
            np.atleast_1d(np.asarray(lat, dtype=np.float64)), np.atleast_1d(np.asarray(lon, dtype=np.float64))
        )
        found = np.zeros(lat.shape, dtype=bool)
        for _, _, hit in self._matches(lat, lon):
            found |= hit
        return float(found.mean()) if found.size else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cells_deg": [level.cell_deg for level in self.levels],
            "keys": [torch.from_numpy(level.keys) for level in self.levels],
            "values": [torch.from_numpy(level.values) for level in self.levels],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ElevationPrior:
        return cls(
            tuple(
                _Level(float(cell), np.asarray(keys, dtype=np.int64), np.asarray(values, dtype=np.float32))
                for cell, keys, values in zip(d["cells_deg"], d["keys"], d["values"], strict=True)
            )
        )
