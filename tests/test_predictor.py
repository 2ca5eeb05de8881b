"""The Python prediction API: ``load_model`` and ``Earth4D.predict`` / ``predict_rgb``."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import earth4d_gis
from earth4d_gis.errors import InputError, ModelFileError
from earth4d_gis.geodesy import normalized_coordinates
from earth4d_gis.predictor import Earth4D


@pytest.fixture(scope="module")
def model_file(make_model_file) -> Path:
    prior = ((10.05, 10.05), (20.05, 20.05), (1500.0, 1700.0))
    return make_model_file("predictor.pt", seed=5, prior=prior)


@pytest.fixture(scope="module")
def model(model_file: Path) -> Earth4D:
    return earth4d_gis.load_model(model_file)


def test_predict_gives_unit_vectors_that_are_the_model_output(model: Earth4D) -> None:
    lat, lon = np.array([10.0, 10.01, -33.9]), np.array([20.0, 20.02, 151.2])
    emb = model.predict(lat, lon, elevation=100.0, time="2024-06-01")
    assert emb.shape == (3, 64) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)
    coords = normalized_coordinates(lat, lon, np.full(3, 100.0), "2024-06-01", model.time_span)
    with torch.no_grad():
        raw = model.model(torch.from_numpy(coords)).numpy()
    assert np.allclose(emb, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
    assert not np.allclose(emb[0], emb[1], atol=1e-3)


def test_elevation_none_uses_the_models_prior(model: Earth4D) -> None:
    with_prior = model.predict([10.05], [20.05], None, "2024")
    assert np.allclose(with_prior, model.predict([10.05], [20.05], 1600.0, "2024"), atol=1e-6)
    assert not np.allclose(with_prior, model.predict([10.05], [20.05], 0.0, "2024"), atol=1e-4)


def test_one_date_per_point_and_batching_agree(model: Earth4D) -> None:
    lat = np.linspace(-60, 60, 50)
    lon = np.linspace(-170, 170, 50)
    dates = np.array(["2020-01-01"] * 25 + ["2024-07-01"] * 25)
    per_point = model.predict(lat, lon, 0.0, dates, batch_size=7)
    assert np.allclose(per_point[:25], model.predict(lat[:25], lon[:25], 0.0, "2020"), atol=1e-6)
    assert np.allclose(per_point[25:], model.predict(lat[25:], lon[25:], 0.0, "2024-07-01"), atol=1e-6)


def test_predict_rgb_is_the_stored_projection(model: Earth4D) -> None:
    rgb = model.predict_rgb([10.0, 11.0], [20.0, 21.0], 0.0, "2024")
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 3)
    assert np.array_equal(
        rgb, model.rgb_projection.to_rgb(model.predict([10.0, 11.0], [20.0, 21.0], 0.0, "2024"))
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lat": [95.0], "lon": [0.0], "time": "2024"}, "latitude 95.0 at row 0 is outside"),
        ({"lat": [0.0], "lon": [0.0], "time": "2024-13-45"}, "date '2024-13-45' is not"),
        ({"lat": [0.0], "lon": [0.0], "time": None}, "predict needs a time"),
        ({"lat": [0.0], "lon": [0.0], "time": "2150"}, "outside the model's time span"),
        ({"lat": [0.0, 1.0], "lon": [0.0, 1.0, 2.0], "time": "2024"}, "different lengths"),
    ],
)
def test_bad_inputs_raise_input_errors(model: Earth4D, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        model.predict(**kwargs)


def test_missing_or_invalid_model_files_raise_model_file_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        earth4d_gis.load_model(tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="junk.pt"):
        earth4d_gis.load_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ModelFileError, match="not an earth4d-gis model file"):
        earth4d_gis.load_model(other)


def test_a_model_pickles_for_worker_processes(model: Earth4D) -> None:
    clone = pickle.loads(pickle.dumps(model))
    assert clone.fingerprint == model.fingerprint
    assert np.array_equal(clone.predict([1.0], [2.0], 0.0, "2024"), model.predict([1.0], [2.0], 0.0, "2024"))
