"""One training epoch: batches drawn on the device, the loss, the step, a progress bar.

With a sample bank each batch holds the same share of network rows and blend rows (``TrainingData``):
the network learns from its rows alone, the blend from its rows alone on a detached field (stacking).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import DataError
from ..neighbours import rows
from . import distributed
from .build import Training
from .config import TrainConfig
from .data import TrainingData
from .loss import data_loss

CHECK_EVERY = 5
"""Steps between reads of the loss (finite check, progress bar): each read is a host sync on a GPU."""


def _diverged(where: str, value: float, last: Path) -> DataError:
    return DataError(
        f"training diverged {where} (loss {value}); try a lower learning_rate=RATE; {last} holds the last "
        "good epoch"
    )


def batch_rows(
    perms: list[torch.Tensor], step: int, steps: int, ctx: distributed.DistContext
) -> tuple[torch.Tensor, int | None]:
    """This step's (and this process's) training rows. With two kinds of rows (network, blend) each
    step takes the same share of both, the network's first, and their count is returned too."""
    chunks = []
    for perm in perms:
        size = math.ceil(len(perm) / steps)
        chunk = perm[step * size : (step + 1) * size]
        if ctx.distributed:
            chunk = chunk.tensor_split(ctx.world_size)[ctx.rank]
        chunks.append(chunk)
    if len(chunks) == 1:
        return chunks[0], None
    return torch.cat(chunks), len(chunks[0])


def train_epoch(
    training: Training,
    data: TrainingData,
    config: TrainConfig,
    ctx: distributed.DistContext,
    *,
    epoch: int,
    deadline: float | None,
    progress: Callable[[float], float],
    label: str,
    last_checkpoint: Path,
) -> tuple[float, int, bool]:
    """Train one epoch; (mean training loss, samples seen by all processes, time limit reached).

    ``progress(epochs_done)`` is the share of the run's budget spent, which drives the learning rate.
    """
    n = data.train_x.shape[0]
    device = data.train_x.device
    steps = math.ceil(n / config.batch_size)
    perms = [
        g[torch.randperm(len(g), generator=training.generator, device=device)] for g in data.row_groups()
    ]
    bar = tqdm(
        total=steps,
        desc=label,
        unit="batch",
        leave=False,
        disable=not (config.progress and ctx.is_main),
        dynamic_ncols=True,
    )
    # The loss stays on the device; it is read (a host sync on a GPU) every CHECK_EVERY steps.
    total_loss, seen, out_of_time = torch.zeros((), device=device), 0, False
    training.net.train()
    try:
        for step in range(steps):
            idx, n_field = batch_rows(perms, step, steps, ctx)
            x, y = rows(data.train_x, idx), rows(data.train_y, idx)
            neighbours = None
            if data.train_neighbours is not None:
                neighbours = (rows(data.train_neighbours[0], idx), rows(data.train_neighbours[1], idx))
            training.scheduler.step(progress(epoch - 1 + step / steps))
            if n_field is None:  # no sample bank: the network alone
                out, _ = training.net(x)
                loss = data_loss(out, y, config)
            else:
                out, field = training.net(x, neighbours, n_field)
                loss = data_loss(field, y[:n_field], config)
                y = y[n_field:]
                if len(y):
                    loss = loss + data_loss(out, y, config)
            if step % CHECK_EVERY == 0 or step == steps - 1:
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise _diverged(f"at epoch {epoch}, batch {step + 1}", value, last_checkpoint)
                with torch.no_grad():
                    mape = float((out - y).abs().mean() / 2.0 * 100.0)
                    cos = float(F.cosine_similarity(out, y, dim=1).mean())
                bar.set_postfix(loss=f"{value:.4g}", mape=f"{mape:.2f}%", cos=f"{cos:.4f}")
            training.optimizer.zero_grad(set_to_none=True)
            training.scaler.scale(loss).backward()
            training.scaler.step(training.optimizer)
            training.scaler.update()
            total_loss += loss.detach() * idx.shape[0]
            seen += idx.shape[0]
            bar.update(1)
            if deadline is not None and ctx.any(time.monotonic() >= deadline):
                out_of_time = True
                break
    finally:
        bar.close()
    train_loss = float(total_loss) / max(seen, 1)
    if not math.isfinite(train_loss):
        raise _diverged(f"in epoch {epoch}", train_loss, last_checkpoint)
    return ctx.mean(train_loss), seen * ctx.world_size, out_of_time
