"""Deterministic, vectorised 3-D lattice noise for the demo world: hashing, value noise, fBm, Voronoi.

Positions are float64 lattice coordinates (ECEF metres divided by a cell size), so the fields have
no seams at the antimeridian or the poles. Everything is integer hashing with wrap-around uint64
arithmetic: the same inputs and salt give the same outputs on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_PRIME_X = np.uint64(0x9E3779B97F4A7C15)
_PRIME_Y = np.uint64(0xC2B2AE3D27D4EB4F)
_PRIME_Z = np.uint64(0x165667B19E3779F9)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_INV_2_53 = 1.0 / float(1 << 53)


def mix64(h: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijective scramble of uint64 values."""
    h = h ^ (h >> np.uint64(30))
    h = h * _MIX_1
    h = h ^ (h >> np.uint64(27))
    h = h * _MIX_2
    return h ^ (h >> np.uint64(31))


def salt_of(*parts: int) -> np.uint64:
    """A uint64 salt from small integers (a seed, a field number, a year)."""
    h = np.array([0x243F6A8885A308D3], dtype=np.uint64)
    for part in parts:
        h = mix64(h ^ np.uint64(part & 0xFFFFFFFFFFFFFFFF))
    return h[0]


def hash_ids(ids: np.ndarray, salt: np.uint64) -> np.ndarray:
    """Re-hash uint64 ids with a salt (e.g. a cell id and a year)."""
    return mix64(ids ^ salt)


def unit_float(h: np.ndarray) -> np.ndarray:
    """uint64 hashes to float64 uniformly in [0, 1)."""
    return (h >> np.uint64(11)).astype(np.float64) * _INV_2_53


def _corner_value(xyz: np.ndarray, salt: np.uint64) -> np.ndarray:
    """A lattice corner's value in [0, 1) (float32); one multiply-xorshift round is enough here."""
    h = (xyz ^ salt) * _MIX_1
    h ^= h >> np.uint64(29)
    h *= _MIX_2
    return (h >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def value_noise(q: np.ndarray, salt: np.uint64) -> np.ndarray:
    """Smooth value noise in [-1, 1] (float32) at lattice coordinates ``q`` (float64 ``[N, 3]``)."""
    terms, weights = [], []
    for axis, prime in enumerate((_PRIME_X, _PRIME_Y, _PRIME_Z)):
        column = q[:, axis]
        fl = np.floor(column)
        f = (column - fl).astype(np.float32)
        weights.append(f * f * f * (f * (f * np.float32(6.0) - np.float32(15.0)) + np.float32(10.0)))
        low = fl.astype(np.int64).astype(np.uint64) * prime
        terms.append((low, low + prime))
    (x0, x1), (y0, y1), (z0, z1) = terms
    fx, fy, fz = weights

    def along_z(xy: np.ndarray) -> np.ndarray:
        a = _corner_value(xy ^ z0, salt)
        return a + (_corner_value(xy ^ z1, salt) - a) * fz

    def along_y(xh: np.ndarray) -> np.ndarray:
        a = along_z(xh ^ y0)
        return a + (along_z(xh ^ y1) - a) * fy

    a = along_y(x0)
    return (a + (along_y(x1) - a) * fx) * np.float32(2.0) - np.float32(1.0)


def fbm(points_m: np.ndarray, cells_m: tuple[float, ...], salt: np.uint64, gain: float = 0.5) -> np.ndarray:
    """Fractal sum of value noise at the given cell sizes (metres, coarsest first), about [-1, 1]."""
    total = np.zeros(points_m.shape[0], dtype=np.float32)
    amp, norm = 1.0, 0.0
    for octave, cell in enumerate(cells_m):
        total += amp * value_noise(points_m / cell, salt ^ np.uint64((octave + 1) * 0x100000001B3))
        norm += amp
        amp *= gain
    return (total / np.float32(norm)).astype(np.float64)


@dataclass
class VoronoiCells:
    """The nearest and second-nearest jittered lattice sites of each point, and their border distance."""

    nearest: np.ndarray
    second: np.ndarray
    border_distance: np.ndarray
    """Distance (in lattice units) from the point to the bisector between the two sites."""
    nearest_site: np.ndarray
    second_site: np.ndarray
    """Site positions (lattice units, ``[N, 3]``), e.g. to evaluate a smooth field once per cell."""


def voronoi(q: np.ndarray, salt: np.uint64, jitter: float = 0.7) -> VoronoiCells:
    """Jittered-grid Voronoi cells at lattice coordinates ``q`` (``[N, 3]``); site ids are uint64 hashes.

    Each lattice cell holds one site at its centre plus up to ``jitter / 2`` in each axis; the two
    nearest sites are searched among the 2 x 2 x 2 cells around the point (exact for small jitter,
    a close approximation for larger).
    """
    base = np.floor(q - 0.5).astype(np.int64)
    n = q.shape[0]
    mask21 = np.uint64((1 << 21) - 1)
    dist = np.empty((8, n))
    ids = np.empty((8, n), dtype=np.uint64)
    sites = np.empty((8, 3, n))
    for k, (dx, dy, dz) in enumerate(np.ndindex(2, 2, 2)):
        cell = [base[:, 0] + dx, base[:, 1] + dy, base[:, 2] + dz]
        h = mix64(
            (cell[0].astype(np.uint64) * _PRIME_X)
            ^ (cell[1].astype(np.uint64) * _PRIME_Y)
            ^ (cell[2].astype(np.uint64) * _PRIME_Z)
            ^ salt
        )
        ids[k] = h
        total = np.zeros(n)
        for axis, shift in enumerate((0, 21, 42)):
            u = ((h >> np.uint64(shift)) & mask21).astype(np.float64) * (1.0 / float(mask21))
            site = cell[axis] + (0.5 - 0.5 * jitter) + jitter * u
            sites[k, axis] = site
            total += (q[:, axis] - site) ** 2
        dist[k] = total
    cols = np.arange(n)
    first = np.argmin(dist, axis=0)
    d1 = dist[first, cols]
    dist[first, cols] = np.inf
    second = np.argmin(dist, axis=0)
    d2 = dist[second, cols]
    site1, site2 = sites[first, :, cols], sites[second, :, cols]
    border = (d2 - d1) / (2.0 * np.maximum(np.linalg.norm(site2 - site1, axis=1), 1e-12))
    return VoronoiCells(ids[first, cols], ids[second, cols], border, site1, site2)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """0 below ``edge0``, 1 above ``edge1``, a smooth cubic between."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
