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


@pytest.fixture(scope="session")
def analysis_truth():
    """The analysis tests' 2 x 2 km of the demo world with its classes in 2019 and 2023 (analysis_world)."""
    from analysis_world import make_truth

    return make_truth()


@pytest.fixture(scope="session")
def official_tiles(analysis_truth, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Official-format int8 tiles of the area: 2019, 2023, and 2019 stored bottom-up."""
    from analysis_world import YEARS, write_official_tile

    folder = tmp_path_factory.mktemp("tiles")
    return {
        "2019": write_official_tile(analysis_truth, YEARS[0], folder / "aef_2019.tif"),
        "2023": write_official_tile(analysis_truth, YEARS[1], folder / "aef_2023.tif"),
        "2019-bottom-up": write_official_tile(analysis_truth, YEARS[0], folder / "aef_2019_bu.tif", True),
    }


@pytest.fixture(scope="session")
def analysis_model(analysis_truth, tmp_path_factory: pytest.TempPathFactory):
    """A small model trained (in about half a minute) on the area's embeddings of both years."""
    from analysis_world import train_small_model

    return train_small_model(analysis_truth, tmp_path_factory.mktemp("analysis-model") / "model.pt")


@pytest.fixture(scope="session")
def labelled_points(analysis_truth, tmp_path_factory: pytest.TempPathFactory):
    """400 training and 300 held-out points with their 2019 class, in EPSG:4326 (the tiles are UTM)."""
    import geopandas
    import numpy as np
    from analysis_world import YEARS, class_names

    rng = np.random.default_rng(3)
    rows = rng.choice(analysis_truth.lat.size, 700, replace=False)
    names = class_names(analysis_truth.classes[YEARS[0]][rows])
    frame = geopandas.GeoDataFrame(
        {"landcover": names, "elevation": analysis_truth.elevation[rows], "pixel": rows},
        geometry=geopandas.points_from_xy(analysis_truth.lon[rows], analysis_truth.lat[rows]),
        crs="EPSG:4326",
    )
    folder = tmp_path_factory.mktemp("labels")
    train, held = frame.iloc[:400], frame.iloc[400:]
    train.to_file(folder / "train.gpkg")
    held.to_file(folder / "held_out.gpkg")
    return {"train": folder / "train.gpkg", "held_out": held, "train_frame": train}
