"""``last.pt`` and ``best.pt`` of a run, and continuing a run from ``last.pt`` (``resume``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

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
    """Everything ``resume`` needs to continue exactly after ``epoch``, replaced atomically."""
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
    stored, wanted = payload.get("architecture") or {}, config.architecture()
    if stored != wanted:
        differ = [name for name in wanted if stored.get(name) != wanted[name]]
        raise InputError(
            f"resume=True: {last} was trained with {_settings(stored, differ)}, not "
            f"{_settings(wanted, differ)}; use the same settings"
        )
    if payload.get("dataset_fingerprint") != fingerprint:
        raise InputError(
            f"resume=True: {last} was trained on other data (dataset fingerprint differs); use the same "
            f"samples (dataset, max_samples=N) and seed={config.seed}"
        )
    stored_model, model = payload.get("description") or {}, training.model.describe()
    if stored_model != model:
        differ = sorted(k for k in model.keys() | stored_model.keys() if stored_model.get(k) != model.get(k))
        raise InputError(
            f"resume=True: {last} holds a model built otherwise ({', '.join(differ)}: an earlier "
            "earth4d-gis wrote it); start the run again with overwrite=True"
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


def _settings(values: dict[str, Any], names: list[str]) -> str:
    """``name=value`` for each of ``names`` (strings quoted, the way ``errors`` asks messages to)."""
    return ", ".join(f"{name}={values.get(name)!r}" for name in names)
