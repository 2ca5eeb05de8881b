"""The training loss: squared error, plus the cosine and absolute-error terms the options weigh in."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import TrainConfig


def data_loss(out: torch.Tensor, target: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """MSE + ``cosine_weight`` x (1 - mean cosine) + ``l1_weight`` x mean absolute error.

    The squared error alone shrinks uncertain predictions towards the mean; the cosine term keeps their
    direction (what similarity searches use), the absolute-error term is what MAPE measures.
    """
    loss = F.mse_loss(out, target)
    if config.cosine_weight:
        loss = loss + config.cosine_weight * (1.0 - F.cosine_similarity(out, target, dim=1)).mean()
    if config.l1_weight:
        loss = loss + config.l1_weight * F.l1_loss(out, target)
    return loss
