"""Training checkpoints (``last.pt``, ``checkpoint_epoch_*.pt``, ``best.pt``), loadable with weights_only.

``last.pt`` holds everything ``resume`` needs to continue exactly where a run stopped: model,
optimizer, scheduler, the random-number states (as tensors), the epoch, the history and the
early-stopping state. It is replaced atomically after every epoch, so Ctrl-C always leaves a usable one.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import atomic_torch_save, safe_torch_load
from ..errors import ModelFileError

TRAINING_STATE_FORMAT = "earth4d-gis-training-state"
TRAINING_STATE_VERSION = 1


def capture_rng(generator: torch.Generator) -> dict[str, Any]:
    """Every random-number state a training step reads, as tensors and ints (weights_only-safe)."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {
        "generator": generator.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {
            "version": int(py_version),
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss": py_gauss,
        },
    }


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    """Undo ``capture_rng``: the next random draws equal those of the uninterrupted run."""
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))


def save_training_state(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write a training checkpoint atomically (``payload`` must hold only tensors and plain values)."""
    return atomic_torch_save(
        {"format": TRAINING_STATE_FORMAT, "format_version": TRAINING_STATE_VERSION, **payload}, path
    )


def load_training_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by ``save_training_state``; ``ModelFileError`` for anything else."""
    payload = safe_torch_load(path, what="training checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != TRAINING_STATE_FORMAT:
        raise ModelFileError(f"{path} is not an earth4d-gis training checkpoint")
    if payload.get("format_version") != TRAINING_STATE_VERSION:
        raise ModelFileError(
            f"{path} is training checkpoint version {payload.get('format_version')}; "
            f"this earth4d-gis reads version {TRAINING_STATE_VERSION}"
        )
    return payload


def cpu_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a module's state (safe to keep while training goes on)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
