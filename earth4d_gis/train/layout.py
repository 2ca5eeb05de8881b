"""The training run's output folder: the original pipeline's layout, and what may be replaced in it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import files
from ..errors import InputError

VIDEO_NAME = "training_progression.mp4"


@dataclass(frozen=True)
class OutputLayout:
    """Where a run writes each of its files (the original pipeline's names)."""

    root: Path

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions"

    @property
    def visualizations(self) -> Path:
        return self.root / "visualizations"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def model(self) -> Path:
        return self.root / "final_model.pt"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def video(self) -> Path:
        return self.root / VIDEO_NAME

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"checkpoint_epoch_{epoch}.pt"

    def reference_files(self) -> list[Path]:
        """The files a run writes before its first epoch (the fixed test subset)."""
        return [self.predictions / n for n in ("ground_truth.csv", "test_coordinates.csv")]

    def generated_files(self) -> list[Path]:
        """Files a previous run left here (``overwrite`` removes them; nothing else in the folder is)."""
        found = [self.model, self.metrics, self.root / "training_curves.png", self.video]
        found += list(self.root.glob("final_bay_area_*.png"))
        found += list(self.checkpoints.glob("*.pt"))
        found += self.reference_files()
        found += list(self.predictions.glob("epoch_*.csv"))
        found += list(self.visualizations.glob("bay_area_epoch_*.png"))
        return [p for p in found if p.is_file()]

    def prepare(self, resume: bool, overwrite: bool) -> None:
        """Check the folder for this run and clear what it may replace (a previous run only with
        ``overwrite``; temporaries a killed run left always); raise ``InputError`` when it may not."""
        if resume and not self.last.is_file():
            raise InputError(
                f"resume=True: there is no checkpoint {self.last} to continue from (no epoch of a run "
                "there finished); start without resume=True"
            )
        files.check_output_folder(self.root)
        for folder in (self.root, self.checkpoints, self.predictions, self.visualizations):
            files.remove_stale_temporaries(folder)  # what a killed run left (e.g. .last.pt.*.tmp)
        if resume:
            return
        previous = self.generated_files() if self.root.exists() else []
        if previous and set(previous) <= set(self.reference_files()):
            # A run stopped before its first epoch ended left only its reference files: start afresh.
            for path in previous:
                path.unlink()
            previous = []
        if previous and not overwrite:
            raise InputError(
                f"output folder {self.root} already holds a training run; use resume=True to continue "
                "it or overwrite=True to start over"
            )
        for path in previous:
            path.unlink()


def write_json_atomic(obj: Any, path: Path) -> Path:
    """``obj`` as indented JSON, written to a temporary file and renamed into place."""
    with files.atomic_output(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2))
    return path
