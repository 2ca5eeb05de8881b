"""Refinement: after the main phase only the finest xyz levels change, and only while validation improves."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from encoder_specs import small_spec

from earth4d_gis.checkpoint import load_model_file
from earth4d_gis.data import make_demo_dataset
from earth4d_gis.data.demo import DemoWorld
from earth4d_gis.train import TrainConfig, train
from earth4d_gis.train.refine import fine_levels

SPEC = small_spec((8, 14, 1e5, 100.0), (3, 10, 1e6, 5e4))


def _run(out: Path, samples, world, **changes: object):
    options = {
        "encoder_spec": SPEC,
        "epochs": 3,
        "batch_size": 250,
        "learning_rate": 3e-3,
        "hidden": (32, 32),
        "prediction_samples": 0,
        "visualize_every": 0,
        "make_video": False,
        "progress": False,
        "refine_cell_m": 1000.0,
        "refine_epochs": 4,
    }
    return train(TrainConfig(output_dir=out, **(options | changes)), samples, world=world)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    world = DemoWorld()
    samples = make_demo_dataset(3000, seed=3, world=world)
    plain = _run(tmp_path_factory.mktemp("plain"), samples, world, refine_epochs=0)
    refined = _run(tmp_path_factory.mktemp("refined"), samples, world)
    return plain, refined


def test_refinement_changes_only_the_fine_xyz_rows(runs) -> None:
    plain, refined = runs
    assert plain.metrics["refine_epochs_run"] == 0
    assert 1 <= refined.metrics["refine_epochs_run"] <= 4
    before = load_model_file(plain.model_path).model
    after = load_model_file(refined.model_path).model
    fine = fine_levels(after, 1000.0)
    # 8 levels 100 km -> 100 m, ~2.68x apart: level 5 (~720 m) is the first under 1 km.
    assert fine is not None and fine.first_level == 5
    changed = []
    for (name, a), b in zip(before.state_dict().items(), after.state_dict().values(), strict=True):
        if name.endswith("tables.xyz"):
            assert torch.equal(a[: fine.first_row], b[: fine.first_row]), "a coarse xyz level changed"
            if not torch.equal(a[fine.first_row :], b[fine.first_row :]):
                changed.append(name)
        else:
            assert torch.equal(a, b), f"{name} changed in refinement"
    if refined.metrics["best_epoch"] > plain.metrics["epochs_run"]:
        assert changed, "a refinement epoch was chosen but the fine rows are unchanged"


def test_refinement_keeps_only_what_validation_confirms(runs) -> None:
    plain, refined = runs
    main_val = min(plain.history["val_loss"])
    assert min(refined.history["val_loss"]) <= main_val
    assert refined.history["val_loss"][: len(plain.history["val_loss"])] == plain.history["val_loss"]
    if refined.metrics["best_epoch"] <= plain.metrics["epochs_run"]:
        assert refined.metrics["model"] == plain.metrics["model"]


def test_no_refinement_without_fine_levels(tmp_path: Path) -> None:
    world = DemoWorld()
    samples = make_demo_dataset(800, seed=4, world=world)
    result = _run(tmp_path, samples, world, epochs=1, refine_cell_m=50.0)
    assert result.metrics["refine_epochs_run"] == 0
