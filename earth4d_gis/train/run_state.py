"""What a run knows about itself between epochs: the history, the best epoch and why it stopped."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

import torch

HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "val_mape", "val_cosine", "lr", "samples_per_s", "seconds")


def _empty_history() -> dict[str, list[float]]:
    return {k: [] for k in HISTORY_KEYS}


@dataclass
class RunState:
    """The state of a run that ``last.pt`` keeps for ``resume`` (with the model and optimizer)."""

    history: dict[str, list[float]] = field(default_factory=_empty_history)
    best_val: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    """The weights of the best validation epoch (CPU), what the final model holds."""
    start_epoch: int = 0
    stop_reason: str = "epochs"
    saved_epoch: int | None = None
    """The last epoch whose ``last.pt`` was written (None before the first)."""

    def record(
        self, epoch: int, train_loss: float, val: dict[str, float], lr: float, seen: int, seconds: float
    ) -> bool:
        """Add an epoch to the history and count it for early stopping; True if validation improved."""
        improved = val["loss"] < self.best_val
        if improved:
            self.best_val, self.best_epoch = val["loss"], epoch
        self.bad_epochs = 0 if improved else self.bad_epochs + 1
        for key, value in (
            ("epoch", epoch),
            ("train_loss", train_loss),
            ("val_loss", val["loss"]),
            ("val_mape", val["mape"]),
            ("val_cosine", val["cosine"]),
            ("lr", lr),
            ("samples_per_s", seen / max(seconds, 1e-9)),
            ("seconds", seconds),
        ):
            self.history[key].append(float(value))
        return improved

    def epochs_done(self) -> int:
        """The number of the last epoch run."""
        return int(self.history["epoch"][-1]) if self.history["epoch"] else self.start_epoch

    def median_speed(self) -> float:
        """Training samples per second, the median over the epochs (0 before the first)."""
        speeds = self.history["samples_per_s"]
        return float(statistics.median(speeds)) if speeds else 0.0

    def checkpoint(self) -> dict[str, Any]:
        """The JSON-able part for ``last.pt`` (the best weights go to ``best.pt``)."""
        return {
            "history": self.history,
            "early_stopping": {
                "best_val": self.best_val,
                "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs,
            },
        }

    @classmethod
    def from_checkpoint(cls, payload: dict[str, Any]) -> RunState:
        """The state saved by ``checkpoint()`` with the epoch of ``payload``."""
        early = payload["early_stopping"]
        epoch = int(payload["epoch"])
        return cls(
            history={k: list(v) for k, v in payload["history"].items()},
            best_val=early["best_val"],
            best_epoch=early["best_epoch"],
            bad_epochs=early["bad_epochs"],
            start_epoch=epoch,
            saved_epoch=epoch,
        )
