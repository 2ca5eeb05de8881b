"""GBIF-like sample locations and dates for the demo world.

Biodiversity records are clustered: many around cities, parks and research sites, strung along
roads and trails, sparse elsewhere, mostly on land, often repeated at the same site, and with
coordinates rounded to a few decimals. The Bay Area (36.9..38.9 N, -123.5..-121.0 E) is covered
densely, like the original dataset's showcase region.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from .demo_world import DemoWorld

BAY_AREA = (36.9, 38.9, -123.5, -121.0)
"""(south, north, west, east) in degrees."""

YEARS = np.arange(2017, 2025)

# Real Bay Area places (lat, lon, weight, spread km): cities, parks, reserves.
_BAY_HOTSPOTS = np.array(
    [
        [37.77, -122.44, 8.0, 3.0], [37.80, -122.26, 4.0, 3.0], [37.87, -122.25, 4.0, 2.0],
        [37.34, -121.88, 4.0, 5.0], [37.43, -122.17, 3.0, 3.0], [38.07, -122.85, 3.0, 6.0],
        [37.92, -122.58, 3.0, 3.0], [37.88, -121.92, 2.0, 4.0], [36.97, -122.03, 2.0, 3.0],
        [37.46, -122.43, 1.5, 3.0], [38.30, -122.29, 1.5, 5.0], [38.44, -122.71, 2.0, 5.0],
        [37.68, -121.77, 1.0, 5.0], [37.55, -122.05, 1.5, 4.0], [38.58, -122.58, 1.0, 6.0],
        [37.25, -122.10, 1.5, 6.0], [37.97, -122.53, 1.5, 3.0], [37.30, -121.70, 1.0, 8.0],
    ]
)  # fmt: skip
_N_GLOBAL_HOTSPOTS = 600
_EARTH_M_PER_DEG = 111_320.0
# Shares of the sample: Bay Area clusters, roads, uniform; global clusters, roads; anywhere on Earth.
_COMPONENTS = np.array([0.17, 0.03, 0.02, 0.58, 0.12, 0.08])


def _uniform_sphere(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    return lat, rng.uniform(-180.0, 180.0, n)


def _offset(
    lat: np.ndarray, lon: np.ndarray, east_m: np.ndarray, north_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    new_lat = np.clip(lat + north_m / _EARTH_M_PER_DEG, -89.9, 89.9)
    new_lon = lon + east_m / (_EARTH_M_PER_DEG * np.maximum(np.cos(np.radians(new_lat)), 0.05))
    return new_lat, np.remainder(new_lon + 180.0, 360.0) - 180.0


def global_hotspots(world: DemoWorld) -> np.ndarray:
    """``[K, 4]`` (lat, lon, weight, spread km) of the world's record hotspots, all on land, from its seed."""
    rng = np.random.default_rng([0x6B1F, world.seed])
    lat, lon = _uniform_sphere(rng, 40 * _N_GLOBAL_HOTSPOTS)
    land = world.land_fraction(lat, lon) > 0.5
    lat, lon = lat[land][:_N_GLOBAL_HOTSPOTS], lon[land][:_N_GLOBAL_HOTSPOTS]
    k = lat.size
    weight = rng.pareto(1.2, k) + 0.05
    spread_km = np.exp(rng.normal(np.log(8.0), 0.8, k))
    return np.stack([lat, lon, weight, spread_km], axis=1)


def _cluster_points(rng: np.random.Generator, spots: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    pick = rng.choice(spots.shape[0], size=n, p=spots[:, 2] / spots[:, 2].sum())
    # Heavy-tailed distances: most records near the centre, some far out.
    scale_m = spots[pick, 3] * 1000.0 * np.exp(rng.normal(0.0, 0.7, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = scale_m * np.sqrt(rng.exponential(1.0, n))
    return _offset(spots[pick, 0], spots[pick, 1], radius * np.cos(angle), radius * np.sin(angle))


def _road_points(rng: np.random.Generator, spots: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points along straight 'roads' between each hotspot and one of its 4 nearest neighbours."""
    lat, lon = spots[:, 0], spots[:, 1]
    d2 = (lat[:, None] - lat[None, :]) ** 2 + (
        (np.remainder(lon[:, None] - lon[None, :] + 180.0, 360.0) - 180.0) * np.cos(np.radians(lat[:, None]))
    ) ** 2
    np.fill_diagonal(d2, np.inf)
    neighbours = np.argsort(d2, axis=1)[:, : min(4, spots.shape[0] - 1)]
    a = rng.choice(spots.shape[0], size=n, p=spots[:, 2] / spots[:, 2].sum())
    b = neighbours[a, rng.integers(0, neighbours.shape[1], n)]
    t = rng.uniform(0, 1, n)
    dlon = np.remainder(lon[b] - lon[a] + 180.0, 360.0) - 180.0
    road_lat, road_lon = lat[a] + t * (lat[b] - lat[a]), lon[a] + t * dlon
    return _offset(road_lat, road_lon, rng.normal(0, 25.0, n), rng.normal(0, 25.0, n))


def _candidates(world: DemoWorld, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    counts = rng.multinomial(n, _COMPONENTS)
    south, north, west, east = BAY_AREA
    parts = [
        _cluster_points(rng, _BAY_HOTSPOTS, counts[0]),
        _road_points(rng, _BAY_HOTSPOTS, counts[1]),
        (rng.uniform(south, north, counts[2]), rng.uniform(west, east, counts[2])),
        _cluster_points(rng, world_hotspots(world), counts[3]),
        _road_points(rng, world_hotspots(world), counts[4]),
        _uniform_sphere(rng, counts[5]),
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


_HOTSPOT_CACHE: dict[int, np.ndarray] = {}


def world_hotspots(world: DemoWorld) -> np.ndarray:
    """``global_hotspots`` cached per world seed (finding them costs a land-mask evaluation)."""
    if world.seed not in _HOTSPOT_CACHE:
        _HOTSPOT_CACHE[world.seed] = global_hotspots(world)
    return _HOTSPOT_CACHE[world.seed]


def sample_locations(
    world: DemoWorld, n: int, seed: int = 42
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` (lat, lon, elevation m, time datetime64[s]) GBIF-like records in the demo world.

    90 % of candidates at sea are rejected (some marine records remain); 8 % of records repeat an
    earlier record's site; coordinates are rounded to 3..6 decimals; elevations carry a few metres of
    error; years weigh later years more (GBIF grows), dates are whole days.
    """
    if n < 0:
        raise InputError(f"sample count {n} is negative")
    rng = np.random.default_rng([0x5A3B, seed])
    lats, lons, have = [], [], 0
    while have < n:
        want = int((n - have) * 1.6) + 64
        lat, lon = _candidates(world, rng, want)
        keep = (world.land_fraction(lat, lon) > 0.5) | (rng.uniform(0, 1, want) < 0.1)
        lats.append(lat[keep])
        lons.append(lon[keep])
        have += int(keep.sum())
    lat, lon = np.concatenate(lats)[:n], np.concatenate(lons)[:n]
    order = rng.permutation(n)
    lat, lon = lat[order], lon[order]
    if n > 1:
        repeat = np.flatnonzero(rng.uniform(0, 1, n) < 0.08)
        source = rng.integers(0, n, repeat.size)
        lat[repeat], lon[repeat] = lat[source], lon[source]
    decimals = rng.choice([3, 4, 5, 6], size=n, p=[0.1, 0.25, 0.3, 0.35])
    factor = 10.0**decimals
    lat, lon = np.round(lat * factor) / factor, np.round(lon * factor) / factor
    terrain = world.elevation(lat, lon)
    elevation = np.where(terrain > 0, np.maximum(terrain + rng.normal(0, 4.0, n), 0.0), 0.0)
    year_weight = 1.12 ** (YEARS - YEARS[0])
    year = rng.choice(YEARS, size=n, p=year_weight / year_weight.sum())
    day = (rng.uniform(0, 1, n) * (365 + (year % 4 == 0))).astype(np.int64)
    time = ((year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + day).astype("datetime64[s]")
    return lat, lon, elevation, time
