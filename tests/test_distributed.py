"""Multi-process training under torchrun (DistributedDataParallel, gloo on CPU) matches a 1-process run.

Run as a script (``python tests/test_distributed.py OUT_DIR``), this file is the training worker that
both runs use; under pytest it launches them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from encoder_specs import small_spec

pytestmark = pytest.mark.slow  # torchrun subprocesses

SPEC = small_spec((8, 14, 2e5, 500.0), (3, 11, 1e6, 5e4))


def worker(output_dir: str) -> None:
    """Train a small model on the demo world (every process of a torchrun job calls this)."""
    from earth4d_gis.data import make_demo_dataset
    from earth4d_gis.train import TrainConfig, train

    config = TrainConfig(
        output_dir=Path(output_dir),
        encoder_spec=SPEC,
        epochs=2,
        batch_size=400,
        learning_rate=3e-3,
        hidden=(32,),
        device="cpu",
        prediction_samples=20,
        visualize_every=0,
        make_video=False,
        progress=False,
    )
    train(config, make_demo_dataset(2000, seed=3))


def _run(args: list[str], tmp: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(args, env=env, cwd=tmp, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _shape(obj: object) -> object:
    """The structure of a JSON document: keys and list lengths, not values."""
    if isinstance(obj, dict):
        return {k: _shape(v) for k, v in obj.items() if k not in ("config",)}
    if isinstance(obj, list):
        return ("list", len(obj))
    return type(obj).__name__ if not isinstance(obj, (int, float)) or isinstance(obj, bool) else "number"


def test_two_process_torchrun_matches_one_process(tmp_path: Path) -> None:
    script = str(Path(__file__).resolve())
    _run([sys.executable, script, str(tmp_path / "one")], tmp_path)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    _run([*torchrun, script, str(tmp_path / "two")], tmp_path)
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert one["world_size"] == 1 and two["world_size"] == 2
    assert _shape(one) == _shape(two)
    assert two["n_train"] == one["n_train"] and two["n_test"] == one["n_test"]
    # The same global batches (with their leave-one-out neighbours), split across the processes, give the
    # same training up to rounding.
    assert two["model"]["cosine"] == pytest.approx(one["model"]["cosine"], abs=2e-3)
    assert two["model"]["mape"] == pytest.approx(one["model"]["mape"], abs=2e-3)
    for name in ("ground_truth.csv", "test_coordinates.csv", "epoch_2.csv"):
        a = pd.read_csv(tmp_path / "one" / "predictions" / name)
        b = pd.read_csv(tmp_path / "two" / "predictions" / name)
        assert a.shape == b.shape and list(a.columns) == list(b.columns)
    assert (tmp_path / "two" / "final_model.pt").is_file()
    assert two["epochs_run"] == one["epochs_run"] >= 2


if __name__ == "__main__":
    worker(sys.argv[1])
