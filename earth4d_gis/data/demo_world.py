"""The demo world: a deterministic synthetic AlphaEarth-like embedding field, evaluable anywhere.

It stands in for AlphaEarth when no data can be downloaded, and gives tests a field whose truth is
known everywhere. Its structure follows what makes real embedding fields hard to interpolate:

- land and sea from a fractal land score (a hand-drawn coast around the San Francisco Bay Area);
- climate bands: temperature from latitude and elevation, moisture from noise, blended biome vectors;
- land cover: landscapes (natural, arid, agricultural, urban) at km scale, parcels as Voronoi cells
  (~450 m fields, ~120 m urban blocks) each with a class, sub-parcel patches at ~60 m, texture at
  tens of metres, sharp-but-smooth (15 m) borders;
- annual change: crop rotation, fires and land conversion in some parcels in some years, and a
  small year-specific regional anomaly; constant within a calendar year, like AlphaEarth.

All fields are functions of 3-D ECEF position (no seams), evaluated with vectorised numpy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..conventions import EMBEDDING_DIM
from ..errors import InputError
from ..geodesy import geodetic_to_ecef, parse_times, validate_coordinates
from . import noise
from .samples import SampleSet

_CHUNK = 32_768
_WORKERS = min(8, os.cpu_count() or 1)

# Land-cover classes; each is one direction in 64-D (plus its group's shared direction).
CLASSES = (
    "water", "dense forest", "open woodland", "shrubland", "grassland", "cereal crop", "row crop",
    "orchard", "fallow / bare soil", "rock", "dense urban", "residential", "impervious", "wetland",
    "snow and ice", "sand",
)  # fmt: skip
_CLASS_GROUP = np.array([0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 0, 5, 3])
_TEXTURE_AMPLITUDE = np.array(
    [0.05, 0.25, 0.3, 0.25, 0.15, 0.08, 0.12, 0.2, 0.1, 0.3, 0.35, 0.35, 0.2, 0.2, 0.05, 0.12]
)
NATURAL, ARID, AGRICULTURAL, URBAN = range(4)
_CLASS_PROBABILITIES = np.array(
    [
        [0.04, 0.24, 0.16, 0.16, 0.20, 0, 0, 0, 0.02, 0.08, 0, 0, 0, 0.06, 0, 0.04],
        [0.01, 0, 0.04, 0.30, 0.15, 0, 0, 0, 0.15, 0.15, 0, 0, 0, 0, 0, 0.20],
        [0.02, 0.04, 0.04, 0, 0.10, 0.30, 0.25, 0.10, 0.10, 0, 0, 0.03, 0, 0.02, 0, 0],
        [0.02, 0.03, 0, 0, 0.10, 0, 0, 0, 0, 0, 0.30, 0.37, 0.18, 0, 0, 0],
    ]
)
_CLASS_CDF = np.cumsum(_CLASS_PROBABILITIES, axis=1)
_ROTATING_CROPS = np.array([5, 6, 8])
_SNOW, _BARE, _GRASS, _SHRUB, _RESIDENTIAL, _IMPERVIOUS = 14, 8, 4, 3, 11, 12

# Biomes as (temperature degC, moisture 0..1) centres; each has its own direction.
_BIOMES = np.array(
    [[26, 0.85], [25, 0.4], [22, 0.08], [16, 0.25], [12, 0.7], [12, 0.4], [0, 0.6], [-9, 0.4], [-22, 0.5]]
)
_BIOME_SCALE = np.array([6.0, 0.2])

# A hand-drawn coastline for the Bay Area region: (latitude, longitude of the coast), sea to the west.
_BAY_COAST = np.array(
    [
        [36.0, -121.45], [36.6, -121.9], [36.95, -122.05], [37.1, -122.3], [37.5, -122.5], [37.8, -122.51],
        [37.9, -122.7], [38.0, -123.0], [38.3, -123.07], [38.7, -123.45], [39.5, -123.8],
    ]
)  # fmt: skip
# The bay itself as water ellipses: centre lat, lon, semi-axes (deg, along / across), rotation (deg).
_BAY_WATER = np.array(
    [
        [37.62, -122.22, 0.30, 0.07, -40.0],
        [37.93, -122.42, 0.08, 0.04, -20.0],
        [38.06, -122.36, 0.06, 0.14, 0.0],
    ]
)
_BAY_REGION = (36.4, 39.4, -124.2, -120.5)

# Column offsets of the basis the embedding is a mixture of (classes first, then the rest).
_B_BIOME = slice(len(CLASSES), len(CLASSES) + len(_BIOMES))
_B_SEA = len(CLASSES) + len(_BIOMES)
_B_ELEVATION = _B_SEA + 3
_B_TEXTURE = _B_ELEVATION + 1
_B_ANOMALY = _B_TEXTURE + 3


@dataclass(frozen=True)
class Patch:
    """A disc of one distinctive embedding at a known place (tests use it to check georeferencing).

    Give either ``vector`` (64 numbers, normalised here) or ``seed`` (a random unit vector).
    """

    lat: float
    lon: float
    radius_m: float
    seed: int | None = None
    vector: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        validate_coordinates(self.lat, self.lon, 0.0)
        if not np.isfinite(self.radius_m) or self.radius_m <= 0:
            raise InputError(f"patch radius {self.radius_m} m is not a positive number")
        if self.vector is not None:
            vec = np.asarray(self.vector, dtype=np.float64).reshape(-1)
            if vec.size != EMBEDDING_DIM or not np.isfinite(vec).all() or not np.linalg.norm(vec) > 0:
                raise InputError(f"patch vector must be {EMBEDDING_DIM} finite numbers, not all zero")
            object.__setattr__(self, "vector", tuple(float(v) for v in vec))

    def unit_vector(self) -> np.ndarray:
        """The patch's embedding, float64 ``[64]`` of unit length."""
        if self.vector is not None:
            vec = np.asarray(self.vector, dtype=np.float64)
        else:
            vec = np.random.default_rng([0x9A7C, self.seed or 0]).standard_normal(EMBEDDING_DIM)
        return vec / np.linalg.norm(vec)


def _unit_rows(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def years_of(time: Any, n: int) -> np.ndarray:
    """Calendar years (int64 ``[n]``) from one instant or ``n`` instants (anything ``parse_times`` takes)."""
    arr = np.asarray(time)
    parsed = (
        arr.astype("datetime64[s]").reshape(-1) if arr.dtype.kind == "M" else parse_times(arr.reshape(-1))
    )
    if parsed.size == 1:
        parsed = np.broadcast_to(parsed, (n,))
    elif parsed.size != n:
        raise InputError(f"{parsed.size} dates given for {n} points")
    if np.isnat(parsed).any():
        raise InputError(f"date NaT at row {int(np.flatnonzero(np.isnat(parsed))[0])} is not a date")
    return parsed.astype("datetime64[Y]").astype(np.int64) + 1970


class DemoWorld:
    """A deterministic synthetic 64-D annual embedding field over the whole globe.

    The same ``seed`` always gives the same world; ``patches`` paint known vectors at known places.
    """

    def __init__(self, seed: int = 0, patches: Sequence[Patch] = ()) -> None:
        self.seed = int(seed)
        self.patches = tuple(patches)
        rng = np.random.default_rng([0xEA27, self.seed])
        dim = EMBEDDING_DIM
        groups = rng.standard_normal((int(_CLASS_GROUP.max()) + 1, dim))
        self._class_vectors = _unit_rows(
            rng.standard_normal((len(CLASSES), dim)) + 0.8 * groups[_CLASS_GROUP]
        )
        self._biome_vectors = _unit_rows(rng.standard_normal((len(_BIOMES), dim)))
        self._sea_vectors = _unit_rows(rng.standard_normal((3, dim)) + 0.8 * groups[0])  # shallow, deep, ice
        self._elevation_vector = _unit_rows(rng.standard_normal(dim))
        self._texture_vectors = _unit_rows(rng.standard_normal((3, dim)))
        self._anomaly_vectors = _unit_rows(rng.standard_normal((2, dim)))
        self._basis = np.concatenate(
            [
                self._class_vectors,
                self._biome_vectors,
                self._sea_vectors,
                self._elevation_vector[None, :],
                self._texture_vectors,
                self._anomaly_vectors,
            ]
        )
        self._patch_centres = (
            geodetic_to_ecef([p.lat for p in self.patches], [p.lon for p in self.patches], 0.0)
            if self.patches
            else np.zeros((0, 3))
        )
        self._patch_vectors = np.array([p.unit_vector() for p in self.patches]).reshape(-1, dim)

    def _salt(self, *parts: int) -> np.uint64:
        return noise.salt_of(self.seed, *parts)

    # ---- land and sea -------------------------------------------------------------------------

    def _land_score(self, p: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Positive on land, negative at sea; about 30 % of the globe is land."""
        coarse = noise.fbm(p, (3.0e6, 1.2e6, 5.0e5, 2.0e5, 8.0e4), self._salt(1), gain=0.55) - 0.12
        lat0, lat1, lon0, lon1 = _BAY_REGION
        w_region = (
            noise.smoothstep(lat0, lat0 + 0.4, lat)
            * noise.smoothstep(lat1, lat1 - 0.4, lat)
            * noise.smoothstep(lon0, lon0 + 0.4, lon)
            * noise.smoothstep(lon1, lon1 - 0.4, lon)
        )
        inside = w_region > 0
        if inside.any():
            coarse[inside] = (1 - w_region[inside]) * coarse[inside] + w_region[inside] * self._bay_score(
                p[inside], lat[inside], lon[inside]
            )
        detail = np.zeros_like(coarse)
        near = np.abs(coarse) < 0.25
        if near.any():
            taper = noise.smoothstep(0.25, 0.15, np.abs(coarse[near]))
            detail[near] = (
                0.2 * taper * noise.fbm(p[near], (3.0e4, 1.0e4, 3.0e3, 1.0e3, 300.0), self._salt(2))
            )
        return coarse + detail

    @staticmethod
    def _bay_score(p: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        coast_lon = np.interp(lat, _BAY_COAST[:, 0], _BAY_COAST[:, 1])
        inland_km = (lon - coast_lon) * 111.32 * np.cos(np.radians(lat))
        score = 0.3 * np.tanh(inland_km / 12.0)
        for clat, clon, a, b, rot in _BAY_WATER:
            dy, dx = lat - clat, (lon - clon) * np.cos(np.radians(clat))
            c, s = np.cos(np.radians(rot)), np.sin(np.radians(rot))
            along, across = (c * dy - s * dx) / a, (s * dy + c * dx) / b
            score = np.minimum(score, 0.15 * (np.hypot(along, across) - 1.0))
        return score

    def _climate(
        self, p: np.ndarray, lat: np.ndarray, elevation: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Temperature (degC, from latitude and elevation) and moisture (0..1)."""
        alat = np.abs(lat)
        temperature = (
            28.0
            - 48.0 * (alat / 90.0) ** 1.6
            - 6.5e-3 * elevation
            + 5.0 * noise.fbm(p, (8e5, 2e5), self._salt(3))
        )
        moisture = (
            0.5
            + 0.45 * noise.fbm(p, (1.5e6, 4e5, 1e5), self._salt(4))
            - 0.3 * np.exp(-(((alat - 25.0) / 8.0) ** 2))
            + 0.2 * np.exp(-((lat / 10.0) ** 2))
        )
        return temperature, np.clip(moisture, 0.0, 1.0)

    # ---- public fields ------------------------------------------------------------------------

    def land_fraction(self, lat: Any, lon: Any) -> np.ndarray:
        """1 on land, 0 at sea, smooth across a ~10 m coastline (float64 ``[N]``)."""
        lat_a, lon_a, _ = validate_coordinates(lat, lon, 0.0)
        return self._chunked(
            lambda sl: self._land_weight(self._land_score(*self._surface(lat_a[sl], lon_a[sl]))), lat_a.size
        )

    def elevation(self, lat: Any, lon: Any) -> np.ndarray:
        """The world's terrain height in metres (0 over sea), float64 ``[N]``."""
        lat_a, lon_a, _ = validate_coordinates(lat, lon, 0.0)
        return self._chunked(lambda sl: self._terrain(*self._surface(lat_a[sl], lon_a[sl])), lat_a.size)

    def embedding(self, lat: Any, lon: Any, elevation: Any, time: Any) -> np.ndarray:
        """The embedding at each point (float32 ``[N, 64]``, unit length) for the calendar year of ``time``.

        ``time`` is one instant for all points or one per point; ``elevation`` (metres) shifts the
        climate (a colder, snowier, different-looking place higher up) as in the real field.
        """
        lat_a, lon_a, elev_a = validate_coordinates(lat, lon, elevation)
        years = years_of(time, lat_a.size)
        out = np.empty((lat_a.size, EMBEDDING_DIM), dtype=np.float32)

        def fill(start: int) -> None:
            sl = slice(start, start + _CHUNK)
            out[sl] = self._embedding_chunk(lat_a[sl], lon_a[sl], elev_a[sl], years[sl])

        starts = range(0, lat_a.size, _CHUNK)
        if len(starts) > 1 and _WORKERS > 1:
            # numpy releases the GIL in its loops, so threads give a near-linear speed-up.
            with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
                list(pool.map(fill, starts))
        else:
            for start in starts:
                fill(start)
        return out

    def land_cover(self, lat: Any, lon: Any, elevation: Any, time: Any) -> np.ndarray:
        """The main land-cover class at each point (int64 indices into ``CLASSES``) in ``time``'s year.

        Sea is "water" and cold places "snow and ice"; elsewhere the class of the point's parcel. This is
        the truth that classifiers, clusterings and change maps of the demo world are checked against.
        """
        lat_a, lon_a, elev_a = validate_coordinates(lat, lon, elevation)
        years = years_of(time, lat_a.size)

        def chunk(sl: slice) -> np.ndarray:
            lat_c, lon_c, elev_c = lat_a[sl], lon_a[sl], elev_a[sl]
            p = geodetic_to_ecef(lat_c, lon_c, np.zeros_like(lat_c))
            w_land = self._land_weight(self._land_score(p, lat_c, lon_c))
            temperature, moisture = self._climate(p, lat_c, elev_c)
            kind = self._landscape(p, temperature, moisture, elev_c)
            scratch = np.zeros((lat_c.size, self._basis.shape[0]))
            cls = self._add_land_cover(scratch, p, kind, years[sl], np.ones(lat_c.size))
            cls = np.where(noise.smoothstep(-1.0, -6.0, temperature) > 0.5, _SNOW, cls)
            return np.where(w_land < 0.5, 0, cls).astype(np.int64)

        parts = [chunk(slice(s, s + _CHUNK)) for s in range(0, lat_a.size, _CHUNK)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def sample(self, n: int, seed: int = 42) -> SampleSet:
        """``n`` GBIF-like samples (clustered, mostly on land, years 2017..2024) with their embeddings."""
        from .demo_sampling import sample_locations

        lat, lon, elev, time = sample_locations(self, n, seed)
        return SampleSet(lat, lon, elev, time, self.embedding(lat, lon, elev, time), source="demo")

    # ---- internals ----------------------------------------------------------------------------

    @staticmethod
    def _chunked(fn: Any, n: int) -> np.ndarray:
        return np.concatenate([fn(slice(s, s + _CHUNK)) for s in range(0, n, _CHUNK)] or [np.zeros(0)])

    @staticmethod
    def _surface(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return geodetic_to_ecef(lat, lon, np.zeros_like(lat)), lat, lon

    @staticmethod
    def _land_weight(score: np.ndarray) -> np.ndarray:
        return noise.smoothstep(-2e-4, 2e-4, score)

    def _terrain(self, p: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        score = self._land_score(p, lat, lon)
        height = np.zeros_like(score)
        land = score > 0
        if land.any():
            pl, s = p[land], score[land]
            inland = noise.smoothstep(0.0, 0.2, s)
            belt = noise.smoothstep(0.05, 0.5, noise.fbm(pl, (1.5e6, 6e5), self._salt(5)))
            ridges = 1.0 - np.abs(noise.fbm(pl, (2e5, 6e4, 2e4, 6e3, 2e3), self._salt(6)))
            hills = 0.5 + 0.5 * noise.fbm(pl, (4e4, 1.2e4, 4e3, 1.2e3, 300.0), self._salt(7))
            height[land] = (
                2.0 + inland * (700.0 * hills + 3000.0 * belt * ridges**3) + 60.0 * hills * (1 - inland)
            )
        return height * self._land_weight(score)

    def _landscape(
        self, p: np.ndarray, temperature: np.ndarray, moisture: np.ndarray, elevation: np.ndarray
    ) -> np.ndarray:
        urban = noise.fbm(p, (2.5e4, 6e3), self._salt(8)) > 0.42
        farmland = (
            noise.fbm(p, (6e4, 1.5e4), self._salt(9))
            - 0.05 * np.maximum(0.0, 4.0 - temperature)
            - 2.0 * np.maximum(0.0, 0.25 - moisture)
            - elevation / 3000.0
        ) > 0.0
        kind = np.where(moisture < 0.25, ARID, NATURAL)
        kind = np.where(farmland, AGRICULTURAL, kind)
        return np.where(urban, URBAN, kind)

    def _parcel_class(
        self, ids: np.ndarray, site_m: np.ndarray, kind: np.ndarray, years: np.ndarray
    ) -> np.ndarray:
        """The land-cover class of each parcel in each year (base class, crop rotation, disturbance).

        The base class mixes the parcel's own draw with a smooth field at its site (~1.5 km), so
        neighbouring parcels tend to share related classes (the class tables are ordered by kinship).
        """
        regional = np.clip(0.5 + 0.9 * noise.value_noise(site_m / 1500.0, self._salt(22)), 0.0, 1.0)
        u = 0.45 * noise.unit_float(noise.hash_ids(ids, self._salt(10))) + 0.55 * regional
        base = (_CLASS_CDF[kind] < u[:, None]).sum(axis=1)
        cls = np.minimum(base, len(CLASSES) - 1)
        rotating = (kind == AGRICULTURAL) & np.isin(cls, _ROTATING_CROPS)
        if rotating.any():
            yearly = noise.mix64(ids[rotating] ^ self._salt(11) ^ years[rotating].astype(np.uint64))
            cls[rotating] = _ROTATING_CROPS[(yearly % np.uint64(3)).astype(np.int64)]
        u = noise.unit_float(noise.hash_ids(ids, self._salt(12)))
        disturbed = u < 0.05
        change_year = 2015 + np.floor(u / 0.05 * 12).astype(np.int64)
        since = years - change_year
        natural = (kind == NATURAL) | (kind == ARID)
        fire = disturbed & natural & (since >= 0)
        cls = np.where(fire, np.where(since == 0, _BARE, np.where(since <= 3, _GRASS, _SHRUB)), cls)
        cls = np.where(disturbed & (kind == AGRICULTURAL) & (since >= 0), _RESIDENTIAL, cls)
        return np.where(disturbed & (kind == URBAN) & (since >= 0), _IMPERVIOUS, cls)

    def _add_land_cover(
        self, coef: np.ndarray, p: np.ndarray, kind: np.ndarray, years: np.ndarray, scale: np.ndarray
    ) -> np.ndarray:
        """Add each point's class mixture (parcel, sub-parcel patch, 15 m borders) to ``coef``.

        Returns each point's main class.
        """
        n = p.shape[0]
        nearest = np.zeros(n, dtype=np.uint64)
        second = np.zeros(n, dtype=np.uint64)
        border_m = np.zeros(n)
        site1, site2 = np.zeros((n, 3)), np.zeros((n, 3))
        for selector, cell_m, salt in ((kind == URBAN, 120.0, 13), (kind != URBAN, 450.0, 14)):
            if selector.any():
                cells = noise.voronoi(p[selector] / cell_m, self._salt(salt))
                nearest[selector], second[selector] = cells.nearest, cells.second
                border_m[selector] = cells.border_distance * cell_m
                site1[selector], site2[selector] = cells.nearest_site * cell_m, cells.second_site * cell_m
        cls1 = self._parcel_class(nearest, site1, kind, years)
        cls2 = self._parcel_class(second, site2, kind, years)
        w_edge = 0.5 + 0.5 * noise.smoothstep(0.0, 15.0, border_m)
        w_main = scale * w_edge
        rows = np.arange(n)
        coef[rows, cls2] += scale * (1 - w_edge)
        natural = np.flatnonzero((kind == NATURAL) | (kind == ARID))
        if natural.size:
            threshold = 0.1 + 1.2 * noise.unit_float(noise.hash_ids(nearest[natural], self._salt(15)))
            sub_noise = noise.value_noise(p[natural] / 60.0, self._salt(16))
            w_sub = noise.smoothstep(threshold - 0.1, threshold + 0.1, sub_noise)
            sub_u = noise.unit_float(noise.hash_ids(nearest[natural], self._salt(17)))
            sub_cls = np.minimum((_CLASS_CDF[kind[natural]] < sub_u[:, None]).sum(axis=1), len(CLASSES) - 1)
            coef[natural, sub_cls] += w_main[natural] * w_sub
            w_main[natural] *= 1 - w_sub
        coef[rows, cls1] += w_main
        return cls1

    def _annual_anomaly(self, p: np.ndarray, years: np.ndarray) -> np.ndarray:
        """Two regional year-specific fields (``[N, 2]``): droughts, wet years, phenology shifts."""
        out = np.zeros((p.shape[0], 2))
        for year in np.unique(years):
            sel = years == year
            for k, cell in enumerate((4e4, 1.2e4)):
                out[sel, k] = noise.value_noise(p[sel] / cell, self._salt(20 + k, int(year)))
        return out

    def _embedding_chunk(
        self, lat: np.ndarray, lon: np.ndarray, elev: np.ndarray, years: np.ndarray
    ) -> np.ndarray:
        """Weights on the world's basis vectors per point, then one matrix product and a normalisation."""
        p = geodetic_to_ecef(lat, lon, np.zeros_like(lat))
        n = p.shape[0]
        score = self._land_score(p, lat, lon)
        w_land = self._land_weight(score)
        w_sea = 1.0 - w_land
        temperature, moisture = self._climate(p, lat, elev)
        coef = np.zeros((n, self._basis.shape[0]))

        biome_d2 = (
            ((np.stack([temperature, moisture], axis=1)[:, None, :] - _BIOMES) / _BIOME_SCALE) ** 2
        ).sum(-1)
        biome_w = np.exp(-(biome_d2 - biome_d2.min(axis=1, keepdims=True)))
        coef[:, _B_BIOME] = (0.7 * w_land / biome_w.sum(axis=1))[:, None] * biome_w

        kind = self._landscape(p, temperature, moisture, elev)
        w_snow = noise.smoothstep(-1.0, -6.0, temperature)
        cls = self._add_land_cover(coef, p, kind, years, w_land * (1 - w_snow))
        coef[:, _SNOW] += w_land * w_snow

        fine = noise.value_noise(p / 40.0, self._salt(18))
        mid = noise.value_noise(p / 150.0, self._salt(19))
        amplitude = _TEXTURE_AMPLITUDE[cls] * w_land
        coef[:, _B_TEXTURE] = amplitude * fine
        coef[:, _B_TEXTURE + 1] = (0.8 * amplitude + 0.1 * w_sea) * mid
        coef[:, _B_ANOMALY : _B_ANOMALY + 2] = (0.12 * (w_land + 0.5 * w_sea))[
            :, None
        ] * self._annual_anomaly(p, years)
        coef[:, _B_ELEVATION] = 0.35 * np.tanh(elev / 1500.0) * w_land

        depth = noise.smoothstep(0.0, -0.12, score)
        sea_ice = noise.smoothstep(-2.0, -8.0, temperature + 6.5e-3 * elev)
        open_sea = w_sea * (1 - sea_ice)
        coef[:, _B_SEA] = open_sea * (1 - depth)
        coef[:, _B_SEA + 1] = open_sea * depth
        coef[:, _B_SEA + 2] = w_sea * sea_ice
        vec = _unit_rows(coef @ self._basis)
        return self._paint_patches(p, vec)

    def _paint_patches(self, p: np.ndarray, vec: np.ndarray) -> np.ndarray:
        for centre, patch_vec, patch in zip(
            self._patch_centres, self._patch_vectors, self.patches, strict=True
        ):
            dist = np.linalg.norm(p - centre, axis=1)
            edge = min(5.0, patch.radius_m / 4)
            inside = np.flatnonzero(dist < patch.radius_m)
            if inside.size:
                w = noise.smoothstep(patch.radius_m, patch.radius_m - edge, dist[inside])[:, None]
                vec[inside] = _unit_rows((1 - w) * vec[inside] + w * patch_vec)
        return vec
