"""``last.pt`` and ``best.pt`` of a run, and continuing a run from ``last.pt`` (``--resume``)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..errors import InputError
from . import state
from .build import Training
from .config import TrainConfig
from .run_state import RunState

log = logging.getLogger(__name__)


def save_last(
    path: Path, epoch: int, training: Training, run: RunState, config: TrainConfig, fingerprint: str
) -> None:
    """Everything ``--resume`` needs to continue exactly after ``epoch``, replaced atomically."""
    payload = {
        "epoch": epoch,
        "architecture": config.architecture(),
        "description": training.model.describe(),
        "dataset_fingerprint": fingerprint,
        "config": config.to_dict(),
        "state_dict": state.cpu_state_dict(training.model),
        "optimizer": training.optimizer.state_dict(),
        "scheduler": training.scheduler.state_dict(),
        "scaler": training.scaler.state_dict(),
        "rng": state.capture_rng(training.generator),
        **run.checkpoint(),
    }
    state.save_training_state(path, payload)
    run.saved_epoch = epoch


def save_weights(
    path: Path, epoch: int, training: Training, weights: dict[str, torch.Tensor], fingerprint: str
) -> None:
    """A model-only checkpoint (``best.pt``, ``checkpoint_epoch_N.pt``)."""
    state.save_training_state(
        path,
        {
            "epoch": epoch,
            "description": training.model.describe(),
            "dataset_fingerprint": fingerprint,
            "state_dict": weights,
        },
    )


def resume(last: Path, best: Path, training: Training, config: TrainConfig, fingerprint: str) -> RunState:
    """Load ``last`` into ``training`` (refusing another architecture or other data); the run's state."""
    payload = state.load_training_state(last)
    if payload.get("architecture") != config.architecture():
        raise InputError(
            f"--resume: {last} was trained with {payload.get('architecture')}, "
            f"not {config.architecture()}; use the same --preset, --hidden and --dropout"
        )
    if payload.get("dataset_fingerprint") != fingerprint:
        raise InputError(
            f"--resume: {last} was trained on other data (dataset fingerprint differs); "
            "use the same dataset, --max-samples and --seed"
        )
    training.model.load_state_dict(payload["state_dict"])
    training.optimizer.load_state_dict(payload["optimizer"])
    training.scheduler.load_state_dict(payload["scheduler"])
    training.scaler.load_state_dict(payload["scaler"])
    state.restore_rng(payload["rng"], training.generator)
    run = RunState.from_checkpoint(payload)
    if best.is_file():
        run.best_state = state.load_training_state(best)["state_dict"]
    log.info(
        "resuming after epoch %d (best validation loss %.6g at epoch %d)",
        run.start_epoch,
        run.best_val,
        run.best_epoch,
    )
    return run
