"""Fixtures shared across test modules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from encoder_specs import small_spec

from earth4d_gis.encoder import EncoderConfig
from earth4d_gis.geodesy import TimeSpan


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test session gets its own JIT-kernel cache and the automatic encoder backend.

    ``TORCH_EXTENSIONS_DIR``: the caller's when set (scripts give each person their own), else one folder
    beside pytest's temporaries, reused by later sessions of this user: never the global torch cache, which
    other checkouts share, and never a folder per test, which would rebuild the kernels for every test.
    Subprocesses (CLI runs, torchrun) inherit it. ``EARTH4D_BACKEND`` from the caller's shell is removed,
    so a test sees the backend chosen as users get it unless it asks for one.
    """
    with pytest.MonkeyPatch.context() as patch:
        if not os.environ.get("TORCH_EXTENSIONS_DIR"):
            cache = tmp_path_factory.getbasetemp().parent / "torch_extensions"
            cache.mkdir(parents=True, exist_ok=True)
            patch.setenv("TORCH_EXTENSIONS_DIR", str(cache))
        patch.delenv("EARTH4D_BACKEND", raising=False)
        yield


@pytest.fixture(autouse=True)
def automatic_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test inherits another's ``EARTH4D_BACKEND`` (monkeypatch restores whatever a test sets)."""
    monkeypatch.delenv("EARTH4D_BACKEND", raising=False)


@pytest.fixture(scope="session")
def tiny_config() -> EncoderConfig:
    """A few-kB encoder (6 xyz levels 5 km -> 50 m, 2 levels per space-time grid) for fast model files."""
    spec = small_spec((6, 12, 5e3, 50.0), (2, 10, 1e6, 5e5))
    return EncoderConfig.from_spec("tiny", spec, TimeSpan())


@pytest.fixture(scope="session")
def make_model_file(tmp_path_factory: pytest.TempPathFactory, tiny_config: EncoderConfig):
    """``make_model_file(name, config=tiny_config, **options)`` -> Path: a small random model file
    (``model_files.random_bundle``'s options: seed, smooth, prior, rgb_from, ...) in a session folder."""
    from model_files import write_random_model

    folder = tmp_path_factory.mktemp("model-files")

    def make(name: str, config: EncoderConfig | None = None, **options: Any) -> Path:
        return write_random_model(folder / name, config or tiny_config, **options)

    return make


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
