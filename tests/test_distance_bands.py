"""Accuracy by distance to the nearest training sample, and the split that keeps test points away."""

from __future__ import annotations

import numpy as np
import pytest

from earth4d_gis.errors import DataError
from earth4d_gis.train.baselines import verdict
from earth4d_gis.train.distance_bands import band_table, nearest_distance, worst_band_gap
from earth4d_gis.train.splits import split_indices


def test_band_table_matches_a_hand_computation() -> None:
    nearest = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    truth = np.tile(np.eye(2)[:1], (6, 1))
    good = truth.copy()
    half = np.tile([[1.0, 1.0]], (6, 1))
    bad = np.tile([[0.0, 1.0]], (6, 1))
    model = np.where(np.arange(6)[:, None] < 3, good, bad)
    rows = band_table(nearest, truth, {"model": model, "knn_16": half}, n_bands=2)
    # Edges are the quantiles 10, 35, 60: the first three points in band 0, the rest in band 1.
    assert [r["n"] for r in rows] == [3, 3]
    assert rows[0]["from_m"] == 10.0 and rows[0]["to_m"] == 35.0 and rows[1]["to_m"] == 60.0
    assert rows[0]["model_cosine"] == pytest.approx(1.0) and rows[1]["model_cosine"] == pytest.approx(0.0)
    assert rows[0]["knn_16_cosine"] == pytest.approx(np.sqrt(0.5))
    # MAPE per point: mean |pred - truth| / 2 * 100; the 'bad' prediction is off by 1 in both elements.
    assert rows[1]["model_mape"] == pytest.approx(50.0) and rows[0]["model_mape"] == 0.0
    assert rows[0]["knn_16_mape"] == pytest.approx(25.0)
    assert worst_band_gap(rows) == pytest.approx(np.sqrt(0.5))


def test_point_on_an_inner_edge_belongs_to_the_lower_band() -> None:
    rows = band_table(np.array([0.0, 1.0, 1.0, 2.0]), np.ones((4, 1)), {"model": np.ones((4, 1))}, n_bands=2)
    assert [r["n"] for r in rows] == [3, 1]


def test_verdict_names_the_bands_where_knn_is_ahead() -> None:
    model = {"cosine": 0.9, "mape": 2.0}
    baselines = {"knn_16": {"cosine": 0.8, "mape": 2.5}, "best_knn": "knn_16"}
    rows = [
        {"from_m": 0.0, "to_m": 25.0, "n": 5, "model_cosine": 0.90, "knn_16_cosine": 0.95},
        {"from_m": 25.0, "to_m": 90.0, "n": 5, "model_cosine": 0.90, "knn_16_cosine": 0.80},
    ]
    text = verdict(model, baselines, rows)
    assert "beats" in text and "0-25 m" in text and "25-90" not in text
    rows[0]["knn_16_cosine"] = 0.904
    assert "every quintile" in verdict(model, baselines, rows)


def test_test_min_distance_keeps_training_samples_away_from_test_points() -> None:
    rng = np.random.default_rng(0)
    xyz = rng.random((2000, 3)) * 10_000.0
    plain = split_indices(2000, 0.9, 0.05, 1)
    far = split_indices(2000, 0.9, 0.05, 1, xyz, 300.0)
    assert np.array_equal(plain.test, far.test)
    assert nearest_distance(xyz[plain.training_part], xyz[plain.test]).min() < 300.0
    assert nearest_distance(xyz[far.training_part], xyz[far.test]).min() >= 300.0
    assert 0 < len(far.training_part) < len(plain.training_part)
    with pytest.raises(DataError, match="test_min_distance"):
        split_indices(2000, 0.9, 0.05, 1, xyz, 1e6)
