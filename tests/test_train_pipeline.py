"""End-to-end training on a small demo world: accuracy bar, output layout, model file, resume, checkpoints."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from encoder_specs import small_spec

from earth4d_gis.checkpoint import load_model_file
from earth4d_gis.data import DemoWorld, make_demo_dataset
from earth4d_gis.errors import CancelledError, DataError, InputError, ModelFileError
from earth4d_gis.geodesy import TimeSpan, normalized_coordinates
from earth4d_gis.train import TrainConfig, metrics, train
from earth4d_gis.train import trainer as trainer_module
from earth4d_gis.train.splits import split_indices
from earth4d_gis.train.state import load_training_state, save_training_state

pytestmark = pytest.mark.slow  # trains models (a session fixture and several runs)

SMALL_SPEC = small_spec((10, 15, 2e5, 100.0), (4, 12, 1e6, 2e4))


def small_config(output_dir: Path, **changes: object) -> TrainConfig:
    base = TrainConfig(
        output_dir=output_dir,
        encoder_spec=SMALL_SPEC,
        epochs=4,
        batch_size=500,
        learning_rate=3e-3,
        hidden=(64, 64),
        prediction_samples=50,
        checkpoint_every=2,
        progress=False,
    )
    return replace(base, **changes)


@pytest.fixture(scope="session")
def world() -> DemoWorld:
    return DemoWorld()


@pytest.fixture(scope="session")
def samples(world: DemoWorld):
    return make_demo_dataset(4000, seed=7, world=world)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory, samples, world):
    out = tmp_path_factory.mktemp("run")
    return train(small_config(out), samples, world=world)


def test_short_training_beats_the_mean_vector_baseline(finished_run) -> None:
    metrics = finished_run.metrics
    assert metrics["model"]["cosine"] > metrics["baselines"]["mean"]["cosine"] + 0.05
    assert metrics["model"]["mape"] < metrics["baselines"]["mean"]["mape"]
    assert metrics["model"]["mape"] < metrics["baselines"]["zeros"]["mape"]
    assert isinstance(metrics["beats_best_knn"], bool)
    assert "kNN" in metrics["verdict"]


def test_short_training_beats_knn_1_and_reports_distance_bands(finished_run) -> None:
    metrics = finished_run.metrics
    assert metrics["model"]["cosine"] > metrics["baselines"]["knn_1"]["cosine"]
    assert metrics["model"]["mape"] < metrics["baselines"]["knn_1"]["mape"]
    bands = metrics["by_distance_to_nearest_training_sample"]
    assert len(bands) == 5 and sum(b["n"] for b in bands) == metrics["n_test"]
    assert all(b["from_m"] <= b["to_m"] for b in bands)
    assert {"model_cosine", "knn_16_cosine", "model_mape", "knn_16_mape"} <= set(bands[0])
    assert "quintile" in metrics["verdict"] or "m." in metrics["verdict"] or " m" in metrics["verdict"]


def test_every_part_of_the_model_learns(finished_run) -> None:
    """The neighbour blend's attention and gate train with the field (their initial values are known)."""
    model = load_model_file(finished_run.model_path).model
    untrained = type(model).from_description(model.describe())
    for name, trained in model.named_parameters():
        start = dict(untrained.named_parameters())[name]
        if name.startswith("blend.") and name.endswith(("attention.4.weight", "gate.2.bias")):
            assert not torch.equal(trained, start), f"{name} never moved from its initial value"
    assert model.blend is not None and float(model.blend.attention[-1].weight.abs().sum()) > 0


def test_training_leaves_no_cached_kernel_buffers(finished_run) -> None:
    from earth4d_gis.encoder import native

    assert finished_run.metrics["encoder_backend"] == "cpu"
    assert native.release_host_buffers() == 0


def test_output_layout_matches_the_original(finished_run) -> None:
    root = finished_run.output_dir
    expected = [
        "final_model.pt",
        "metrics.json",
        "training_curves.png",
        "final_bay_area_rgb.png",
        "final_bay_area_error.png",
        "training_progression.mp4",
        "checkpoints/last.pt",
        "checkpoints/checkpoint_epoch_2.pt",
        "checkpoints/checkpoint_epoch_4.pt",
        "predictions/ground_truth.csv",
        "predictions/test_coordinates.csv",
        "visualizations/bay_area_epoch_1_rgb.png",
        "visualizations/bay_area_epoch_4_error.png",
    ]
    for name in expected:
        assert (root / name).is_file(), name
    epochs = finished_run.history["epoch"]
    assert sorted(p.name for p in (root / "predictions").glob("epoch_*.csv")) == sorted(
        f"epoch_{int(e)}.csv" for e in epochs
    )
    assert not list(root.rglob(".*.tmp"))


def test_metrics_json_is_complete(finished_run) -> None:
    doc = json.loads((finished_run.output_dir / "metrics.json").read_text())
    assert set(doc["baselines"]) >= {"zeros", "mean", "knn_1", "knn_4", "knn_16", "best_knn"}
    assert len(doc["model"]["r2_per_dim"]) == 64
    assert doc["n_train"] + doc["n_validation"] + doc["n_test"] == 4000
    assert doc["model_file_bytes"] == (finished_run.output_dir / "final_model.pt").stat().st_size


def test_final_model_is_self_describing_and_reproduces_the_test_metrics(finished_run, samples) -> None:
    bundle = load_model_file(finished_run.output_dir / "final_model.pt")
    assert bundle.dataset_fingerprint == samples.fingerprint()
    assert bundle.rgb_projection is not None
    assert bundle.metrics["model"]["cosine"] == pytest.approx(finished_run.metrics["model"]["cosine"])
    assert bundle.elevation_prior.lookup(np.array([37.77]), np.array([-122.44]))[0] != 0.0


def test_final_model_holds_the_best_validation_weights_and_its_test_score(finished_run, samples) -> None:
    best = load_training_state(finished_run.output_dir / "checkpoints" / "best.pt")["state_dict"]
    bundle = load_model_file(finished_run.output_dir / "final_model.pt")
    final = bundle.model.state_dict()
    assert set(best) == set(final)
    assert all(torch.equal(best[k], final[k]) for k in best)
    test = split_indices(len(samples), 0.95, 0.05, 42).test
    part = samples.subset(test)
    coords = normalized_coordinates(part.latitude, part.longitude, part.elevation, part.time, TimeSpan())
    with torch.no_grad():
        pred = bundle.model(torch.from_numpy(coords))
    assert metrics.mean_cosine(pred, part.embeddings) == pytest.approx(
        finished_run.metrics["model"]["cosine"], abs=1e-5
    )


def test_checkpoints_load_with_weights_only(finished_run) -> None:
    last = finished_run.output_dir / "checkpoints" / "last.pt"
    raw = torch.load(last, weights_only=True)
    assert raw["epoch"] == finished_run.history["epoch"][-1]
    assert {"optimizer", "scheduler", "rng", "state_dict", "history"} <= set(raw)
    assert isinstance(raw["rng"]["generator"], torch.Tensor)
    assert load_training_state(last)["dataset_fingerprint"] == raw["dataset_fingerprint"]
    with pytest.raises(ModelFileError):
        load_training_state(finished_run.output_dir / "final_model.pt")


def test_existing_run_is_not_overwritten_without_a_flag(finished_run, samples) -> None:
    before = (finished_run.output_dir / "final_model.pt").stat().st_mtime_ns
    with pytest.raises(InputError, match="resume=True|overwrite=True"):
        train(small_config(finished_run.output_dir), samples)
    assert (finished_run.output_dir / "final_model.pt").stat().st_mtime_ns == before


def test_resume_gives_the_same_metrics_as_an_uninterrupted_run(
    tmp_path: Path, samples, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = {"visualize_every": 0, "make_video": False, "patience": 0, "epochs": 3}
    whole = train(small_config(tmp_path / "whole", **quiet), samples)
    save_last = trainer_module._Trainer._save_last

    def interrupt_after_first_epoch(self: trainer_module._Trainer, epoch: int) -> None:
        save_last(self, epoch)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module._Trainer, "_save_last", interrupt_after_first_epoch)
    with pytest.raises(CancelledError):
        train(small_config(tmp_path / "parts", **quiet), samples)
    monkeypatch.undo()
    resumed = train(small_config(tmp_path / "parts", **{**quiet, "resume": True}), samples)
    assert resumed.history["epoch"] == [1.0, 2.0, 3.0]
    assert resumed.history["epoch"] == whole.history["epoch"]
    assert resumed.history["val_loss"] == pytest.approx(whole.history["val_loss"], rel=1e-5)
    assert resumed.metrics["model"]["cosine"] == pytest.approx(whole.metrics["model"]["cosine"], rel=1e-5)
    assert resumed.metrics["model"]["mape"] == pytest.approx(whole.metrics["model"]["mape"], rel=1e-5)


def test_resume_refuses_other_data_or_architecture(tmp_path: Path, samples) -> None:
    quiet = {"visualize_every": 0, "make_video": False, "prediction_samples": 0}
    train(small_config(tmp_path, **quiet, epochs=1), samples)
    with pytest.raises(InputError, match="other data"):
        train(small_config(tmp_path, **quiet, resume=True), samples.subset(np.arange(3000)))
    with pytest.raises(InputError, match=r"hidden=\[64, 64\], not hidden=\[32\]"):
        train(small_config(tmp_path, **quiet, resume=True, hidden=(32,)), samples)
    # A run started by an earlier earth4d-gis, whose blend had GELU (its description names no activation).
    last = tmp_path / "checkpoints" / "last.pt"
    payload = load_training_state(last)
    del payload["description"]["bank"]["activation"]
    save_training_state(last, payload)
    with pytest.raises(InputError, match=r"built otherwise \(bank: an earlier earth4d-gis"):
        train(small_config(tmp_path, **quiet, resume=True), samples)


def test_non_finite_targets_are_reported_not_dropped(tmp_path: Path, samples) -> None:
    broken = samples.subset(np.arange(len(samples)))
    broken.embeddings[5, 3] = np.nan
    with pytest.raises(DataError, match="non-finite embedding"):
        train(small_config(tmp_path, visualize_every=0, make_video=False, epochs=1, train_split=0.5), broken)
