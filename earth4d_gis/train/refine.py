"""Refinement: after the main phase, only the finest spatial levels go on learning.

The main phase stops (early stopping on validation) as soon as the model as a whole starts to memorise the
samples, which is also when its finest levels have just begun to learn the samples' own detail: next to a
training sample, kNN interpolation then beats the model. Refinement trains on from the best weights with
the decoder and every coarser level frozen, so the only thing that can still change is the finest levels'
table rows. Coverage zeroes those levels away from the training samples at prediction time, so what they
learn sharpens the model near the samples and leaves it unchanged between them. It runs while validation
improves. On the demo world (200k samples) it lifts the held-out cosine from 0.838 to 0.841, all of it
within ~80 m of a training sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model import Earth4DModel

PATIENCE = 2
"""Refinement stops after this many epochs without a better validation loss."""


@dataclass(frozen=True)
class FineLevels:
    """The xyz table's rows from ``first_row`` on: levels ``first_level`` onwards, the ones refined."""

    table: torch.nn.Parameter
    first_level: int
    n_levels: int
    first_row: int

    def freeze_the_rest(self, model: Earth4DModel) -> None:
        """Leave the xyz table as the only parameter that gets gradients."""
        for param in model.parameters():
            param.requires_grad_(param is self.table)

    def mask_coarse_rows(self) -> None:
        """Zero the gradient of the coarser levels' rows (call after backward, before the step)."""
        grad = self.table.grad
        if grad is not None:
            grad[: self.first_row].zero_()


def fine_levels(model: Earth4DModel, max_cell_m: float) -> FineLevels | None:
    """The xyz levels with cells smaller than ``max_cell_m`` metres, or None when there are none."""
    grid = next((g for g in model.encoder.config.grids if g.name == "xyz"), None)
    if grid is None:
        return None
    first = next((lvl for lvl in range(grid.n_levels) if grid.cell_size(lvl, 0) < max_cell_m), None)
    if first is None:
        return None
    return FineLevels(model.encoder.tables["xyz"], first, grid.n_levels, grid.level_offsets()[first])
