"""The demo world and SampleSet: determinism, unit length, patches, annual change, Bay Area coverage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from earth4d_gis.data import (
    BAY_AREA,
    DemoWorld,
    Patch,
    SampleSet,
    load_samples,
    make_demo_dataset,
    write_demo_files,
)
from earth4d_gis.errors import DataError, InputError

SOUTH, NORTH, WEST, EAST = BAY_AREA


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    return DemoWorld(seed=0)


@pytest.fixture(scope="module")
def demo() -> SampleSet:
    return make_demo_dataset(4000, seed=7)


def _bay_grid(n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    lat, lon = np.meshgrid(np.linspace(SOUTH, NORTH, n), np.linspace(WEST, EAST, n), indexing="ij")
    return lat.ravel(), lon.ravel()


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.astype(np.float64) * b).sum(axis=-1)


def test_same_seed_gives_identical_samples_and_fingerprint(demo: SampleSet) -> None:
    again = make_demo_dataset(4000, seed=7)
    for name in ("latitude", "longitude", "elevation", "time", "embeddings"):
        np.testing.assert_array_equal(getattr(demo, name), getattr(again, name))
    assert demo.fingerprint() == again.fingerprint()
    other = make_demo_dataset(4000, seed=8)
    assert other.fingerprint() != demo.fingerprint()
    assert not np.array_equal(other.latitude, demo.latitude)


def test_world_seed_changes_the_field_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(-60, 60, 500), rng.uniform(-180, 180, 500)
    a = DemoWorld(seed=3).embedding(lat, lon, 0.0, "2020-05-01")
    np.testing.assert_array_equal(a, DemoWorld(seed=3).embedding(lat, lon, 0.0, "2020-05-01"))
    b = DemoWorld(seed=4).embedding(lat, lon, 0.0, "2020-05-01")
    assert _cos(a, b).mean() < 0.9


def test_embeddings_are_unit_length_float32_everywhere(world: DemoWorld, demo: SampleSet) -> None:
    rng = np.random.default_rng(2)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 3000)))
    lon = rng.uniform(-180, 180, 3000)
    lat[:4], lon[:4] = [90.0, -90.0, 0.0, 10.0], [0.0, 0.0, 180.0, -180.0]
    emb = world.embedding(lat, lon, rng.uniform(-50, 4000, 3000), rng.integers(1990, 2030, 3000).astype(str))
    assert emb.dtype == np.float32 and emb.shape == (3000, 64)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(demo.embeddings, axis=1), 1.0, atol=1e-5)


def test_patch_is_painted_at_its_place() -> None:
    patch = Patch(lat=37.5, lon=-122.3, radius_m=200.0, seed=11)
    painted, plain = DemoWorld(seed=0, patches=[patch]), DemoWorld(seed=0)
    north_150m = 37.5 + 150.0 / 111_000.0
    north_400m = 37.5 + 400.0 / 111_000.0
    lat = np.array([37.5, north_150m, north_400m])
    lon = np.full(3, -122.3)
    got = painted.embedding(lat, lon, 10.0, "2021-07-01")
    vec = patch.unit_vector()
    assert _cos(got[0], vec) > 0.9999 and _cos(got[1], vec) > 0.9999
    np.testing.assert_allclose(got[2], plain.embedding(lat[2:], lon[2:], 10.0, "2021-07-01")[0])
    assert _cos(plain.embedding(lat[:1], lon[:1], 10.0, "2021-07-01")[0], vec) < 0.9


def test_patch_from_vector_and_bad_patches() -> None:
    vec = np.zeros(64)
    vec[5] = 3.0
    patch = Patch(0.0, 0.0, 50.0, vector=tuple(vec))
    np.testing.assert_allclose(patch.unit_vector()[5], 1.0)
    with pytest.raises(InputError, match="radius"):
        Patch(0.0, 0.0, -1.0)
    with pytest.raises(InputError, match="latitude"):
        Patch(95.0, 0.0, 10.0)


def test_constant_within_a_year_and_changing_between_years(world: DemoWorld) -> None:
    lat, lon = _bay_grid()
    elev = world.elevation(lat, lon)
    jan, dec = world.embedding(lat, lon, elev, "2019-01-02"), world.embedding(lat, lon, elev, "2019-12-30")
    np.testing.assert_array_equal(jan, dec)
    later = world.embedding(lat, lon, elev, "2023-06-01")
    cos = _cos(jan, later)
    assert (cos < 0.8).mean() > 0.02, "some places should change class between years"
    assert np.median(cos) > 0.9, "most places should stay similar"


def test_elevation_and_latitude_shape_the_field(world: DemoWorld) -> None:
    lat, lon = np.full(200, 37.4), np.linspace(-122.2, -121.6, 200)
    low = world.embedding(lat, lon, 0.0, "2020-01-01")
    high = world.embedding(lat, lon, 3000.0, "2020-01-01")
    assert _cos(low, high).mean() < 0.95
    tropics = world.embedding(np.full(200, 5.0), np.linspace(-70, -50, 200), 0.0, "2020-01-01").mean(axis=0)
    polar = world.embedding(np.full(200, 75.0), np.linspace(-70, -50, 200), 0.0, "2020-01-01").mean(axis=0)
    assert _cos(tropics / np.linalg.norm(tropics), polar / np.linalg.norm(polar)) < 0.9


def test_terrain_is_zero_at_sea_and_positive_on_land(world: DemoWorld) -> None:
    lat, lon = _bay_grid(60)
    land = world.land_fraction(lat, lon)
    height = world.elevation(lat, lon)
    assert 0.2 < (land > 0.5).mean() < 0.95, "the Bay Area has a coast"
    assert np.all(height[land == 0.0] == 0.0)
    assert np.all(height[land == 1.0] > 0.0)
    assert height.max() > 300.0


def test_fine_structure_at_tens_of_metres(world: DemoWorld) -> None:
    """A 5 km transect at 5 m spacing crosses parcel borders: sharp steps, not only smooth variation."""
    lon = np.linspace(-121.95, -121.95 + 5000.0 / 88_000.0, 1000)
    emb = world.embedding(np.full(1000, 37.3), lon, 50.0, "2020-01-01")
    step = _cos(emb[1:], emb[:-1])
    assert (step < 0.98).sum() >= 3, "parcel borders should be sharp (within ~15 m)"
    assert np.median(step) > 0.995
    assert _cos(emb[0], emb[-1]) < 0.95


def test_samples_cover_the_bay_area_and_stay_mostly_on_land(world: DemoWorld, demo: SampleSet) -> None:
    lat, lon = demo.latitude, demo.longitude
    bay = (lat > SOUTH) & (lat < NORTH) & (lon > WEST) & (lon < EAST)
    assert 0.15 < bay.mean() < 0.5
    mid_lat, mid_lon = (SOUTH + NORTH) / 2, (WEST + EAST) / 2
    for north in (True, False):
        for east in (True, False):
            quarter = bay & ((lat > mid_lat) == north) & ((lon > mid_lon) == east)
            assert quarter.sum() >= 10
    assert (world.land_fraction(lat, lon) > 0.5).mean() > 0.85
    assert (~bay).sum() > 0.5 * len(demo), "the rest of the world is sampled too"
    years = demo.years()
    assert set(np.unique(years)) == set(range(2017, 2025))
    assert np.all(demo.elevation >= 0.0)


def test_samples_are_clustered(demo: SampleSet) -> None:
    """Nearest-neighbour distances are far shorter than for uniformly spread points on land."""
    from scipy.spatial import cKDTree

    from earth4d_gis.geodesy import geodetic_to_ecef

    xyz = geodetic_to_ecef(demo.latitude, demo.longitude, 0.0)
    dist, _ = cKDTree(xyz).query(xyz, k=2)
    uniform_spacing = np.sqrt(1.5e14 / len(demo))
    assert np.median(dist[:, 1]) < 0.05 * uniform_spacing


def test_sampleset_subset_and_validation(demo: SampleSet) -> None:
    part = demo.subset(np.arange(10, 20))
    assert len(part) == 10 and part.source == "demo"
    np.testing.assert_array_equal(part.embeddings, demo.embeddings[10:20])
    mask = np.zeros(len(demo), dtype=bool)
    mask[:5] = True
    assert len(demo.subset(mask)) == 5
    assert part.fingerprint() != demo.subset(np.arange(10, 21)).fingerprint()
    changed = demo.subset(np.arange(10, 20))
    changed.embeddings[3, 7] += 1e-3
    changed._fingerprint = None
    assert changed.fingerprint() != part.fingerprint()
    with pytest.raises(DataError, match="differ in length"):
        SampleSet(np.zeros(3), np.zeros(3), np.zeros(2), np.zeros(3, "datetime64[s]"), np.zeros((3, 64)))
    with pytest.raises(DataError, match=r"\[N, 64\]"):
        SampleSet(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3, "datetime64[s]"), np.zeros((3, 32)))


def test_demo_files_round_trip(tmp_path: Path) -> None:
    meta, emb = write_demo_files(tmp_path, 500, seed=3)
    original = make_demo_dataset(500, seed=3)
    loaded = load_samples(meta, emb, quantization="linear127")
    np.testing.assert_array_equal(loaded.latitude, original.latitude)
    np.testing.assert_array_equal(loaded.longitude, original.longitude)
    np.testing.assert_array_equal(loaded.elevation, original.elevation)
    np.testing.assert_array_equal(loaded.time, original.time)
    np.testing.assert_allclose(loaded.embeddings, original.embeddings, atol=0.5 / 127 + 1e-6)
    with pytest.raises(InputError, match="already exists"):
        write_demo_files(tmp_path, 500, seed=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([meta.name, emb.name])
