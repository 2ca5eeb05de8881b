"""The evaluated model on held-out rows: batched prediction without gradients, validation figures."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .config import TrainConfig
from .loss import data_loss


@torch.no_grad()
def predict(model: nn.Module, coords: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``model`` in eval mode on ``coords`` in batches (its train/eval mode is restored afterwards)."""
    was_training = model.training
    model.eval()
    try:
        outs = [model(coords[i : i + batch_size]) for i in range(0, coords.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0, 64, device=coords.device)


def validate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, ctx: distributed.DistContext
) -> dict[str, float]:
    """Loss, mean cosine and MAPE (%) on the validation rows, averaged over processes."""
    pred = predict(model, x, config.eval_batch_size)
    loss = float(data_loss(pred, y, config))
    cos = float(F.cosine_similarity(pred, y, dim=1).mean())
    mape = float((pred - y).abs().mean() / 2.0 * 100.0)
    return {"loss": ctx.mean(loss), "cosine": ctx.mean(cos), "mape": ctx.mean(mape)}
