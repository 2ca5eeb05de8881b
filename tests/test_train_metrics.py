"""Metrics and baselines: the original's MAPE, cosine, R^2, and the kNN / mean / zeros predictors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from earth4d_gis.train.baselines import baseline_metrics, knn_predict, verdict
from earth4d_gis.train.metrics import evaluate, mape, mean_cosine, r2_per_dimension
from earth4d_gis.train.splits import split_indices


def test_mape_is_range_normalised_mean_absolute_error() -> None:
    target = np.zeros((2, 64))
    pred = np.full((2, 64), 0.1)
    assert mape(pred, target) == pytest.approx(5.0)


def test_cosine_and_r2_of_perfect_and_opposite_predictions() -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(size=(50, 64))
    assert mean_cosine(target, target) == pytest.approx(1.0)
    assert mean_cosine(-target, target) == pytest.approx(-1.0)
    assert mean_cosine(np.zeros_like(target), target) == 0.0
    assert np.allclose(r2_per_dimension(target, target), 1.0)
    mean_pred = np.broadcast_to(target.mean(axis=0), target.shape)
    assert np.allclose(r2_per_dimension(mean_pred, target), 0.0)
    result = evaluate(target * 2.0, target)
    assert result["cosine"] == pytest.approx(1.0)
    assert len(result["r2_per_dim"]) == 64 and result["n"] == 50


def test_knn_interpolates_training_values() -> None:
    train_xyz = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    train_emb = np.array([[1.0] + [0.0] * 63, [0.0, 1.0] + [0.0] * 62])
    exact = knn_predict(train_xyz, train_emb, train_xyz, k=1)
    assert np.allclose(exact, train_emb)
    middle = knn_predict(train_xyz, train_emb, np.array([[2.5, 0.0, 0.0]]), k=2)
    # Inverse-distance weights 1/2.5 and 1/7.5 -> 0.75 and 0.25.
    assert middle[0, :2] == pytest.approx([0.75, 0.25])


def test_baselines_report_each_predictor_and_the_best_knn() -> None:
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(37, 38, 400), rng.uniform(-123, -122, 400)
    emb = np.stack([np.sin(lat * 40), np.cos(lon * 40)] + [np.full(400, 0.1)] * 62, axis=1).astype(np.float32)
    elev = np.zeros(400)
    result = baseline_metrics(
        lat[:300], lon[:300], elev[:300], emb[:300], lat[300:], lon[300:], elev[300:], emb[300:]
    )
    assert {"zeros", "mean", "knn_1", "knn_4", "knn_16", "best_knn", "best_knn_mape"} <= set(result)
    assert result["zeros"]["cosine"] == 0.0
    assert result[result["best_knn"]]["cosine"] > result["mean"]["cosine"]
    knn_mapes = [result[f"knn_{k}"]["mape"] for k in (1, 4, 16)]
    assert result[result["best_knn_mape"]]["mape"] == min(knn_mapes)
    good = verdict({"cosine": 0.999, "mape": 0.0}, result)
    bad = verdict({"cosine": 0.0, "mape": 0.0}, result)
    assert "beats" in good and "NOT" not in good and "on MAPE too" in good
    assert "does NOT beat" in bad
    assert "still ahead" in verdict({"cosine": 0.999, "mape": 99.0}, result)


def test_split_is_disjoint_deterministic_and_validation_comes_from_training() -> None:
    a = split_indices(1000, 0.9, 0.1, seed=3)
    b = split_indices(1000, 0.9, 0.1, seed=3)
    assert all(
        np.array_equal(x, y) for x, y in ((a.train, b.train), (a.validation, b.validation), (a.test, b.test))
    )
    assert len(a.test) == 100 and len(a.validation) == 90 and len(a.train) == 810
    everything = np.concatenate([a.train, a.validation, a.test])
    assert np.array_equal(np.sort(everything), np.arange(1000))


def test_loss_adds_the_weighted_cosine_and_absolute_error_terms() -> None:
    from earth4d_gis.train import TrainConfig
    from earth4d_gis.train.loss import data_loss

    gen = torch.Generator().manual_seed(0)
    out, target = torch.randn(50, 64, generator=gen), torch.randn(50, 64, generator=gen)
    mse = ((out - target) ** 2).mean()
    one_minus_cos = 1.0 - torch.nn.functional.cosine_similarity(out, target, dim=1).mean()
    l1 = (out - target).abs().mean()
    assert data_loss(out, target, TrainConfig(cosine_weight=0.0)) == pytest.approx(float(mse), rel=1e-6)
    mixed = data_loss(out, target, TrainConfig(cosine_weight=0.5, l1_weight=2.0))
    assert mixed == pytest.approx(float(mse + 0.5 * one_minus_cos + 2.0 * l1), rel=1e-6)
