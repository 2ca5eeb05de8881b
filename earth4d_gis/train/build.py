"""The objects a run trains: the model, its mixed-precision / DDP wrapper, optimizer and schedule."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from ..encoder.backends import implied_backend
from ..geodesy import TimeSpan
from ..model import Earth4DModel, Neighbours
from . import distributed
from .config import TrainConfig
from .data import TrainingData
from .optim import build_optimizer, lazy_pays_off, touched_rows_bound
from .schedule import CosineSchedule

log = logging.getLogger(__name__)


class ModelStep(nn.Module):
    """The model's (blend, field) pair for a batch; the encoder in full precision, the rest under
    autocast (CUDA mixed precision)."""

    def __init__(self, model: Earth4DModel, amp_dtype: torch.dtype | None) -> None:
        super().__init__()
        self.model = model
        self.amp_dtype = amp_dtype

    def forward(
        self, coords: torch.Tensor, neighbours: Neighbours | None = None, blend_from: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(the blend, the field); with ``blend_from`` the field of the rows before it and the blend of
        the rows from there on, on a field without gradient (the network learns nothing from the blend)."""
        with torch.autocast(
            coords.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            if blend_from is None:
                out, field = self.model.forward_parts(coords, neighbours)
            else:
                field = self.model.field(coords[:blend_from])
                # The blend's rows need the field's value but never its gradient: computed apart, the
                # backward pass does no work on them.
                with torch.no_grad():
                    blend_field = self.model.field(coords[blend_from:])
                rows = None
                if neighbours is not None:
                    rows = (neighbours[0][blend_from:], neighbours[1][blend_from:])
                out = self.model.blend_with(coords[blend_from:], blend_field, rows)
        return out.float(), field.float()


@dataclass
class Training:
    """The trained objects. ``net`` is what a step calls (DDP-wrapped under torchrun)."""

    model: Earth4DModel
    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: CosineSchedule
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    amp_dtype: torch.dtype | None
    lazy_tables: bool


def build_training(
    config: TrainConfig,
    data: TrainingData,
    time_span: TimeSpan,
    ctx: distributed.DistContext,
) -> Training:
    """A fresh model for ``data`` (with its sample bank) and everything that trains it."""
    device = ctx.device
    encoder_config = config.encoder_config(time_span)
    backend = implied_backend(config.backend, config.device)  # --device cuda never falls back silently
    model = Earth4DModel(
        encoder_config, hidden=config.hidden, dropout=config.dropout, backend=backend, bank=data.bank
    ).to(device)
    amp_dtype = None
    if config.amp and device.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    step = ModelStep(model, amp_dtype).to(device)
    net: nn.Module = step
    if ctx.distributed:
        device_ids = [device.index] if device.type == "cuda" else None
        # The buffers (the sample bank) are built identically on every process: no broadcasts.
        net = nn.parallel.DistributedDataParallel(step, device_ids=device_ids, broadcast_buffers=False)
    lazy = config.table_optimizer == "lazy" or (
        config.table_optimizer == "auto" and lazy_pays_off(encoder_config, config.batch_size)
    )
    optimizer = build_optimizer(
        list(model.encoder.parameters()),
        [p for name, p in model.named_parameters() if not name.startswith("encoder.")],
        lr=config.learning_rate,
        lazy_tables=lazy,
        weight_decay=config.weight_decay,
        table_lr_scale=config.table_lr_scale,
        max_touched_rows=touched_rows_bound(encoder_config, config.batch_size),
    )
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)
    counts = model.parameter_count()
    log.info(
        "model: preset %s (%d-D features, %s encoder parameters), decoder %s (%s parameters), "
        "blend of %d neighbours (%s parameters), backend %s, table optimizer %s",
        config.preset,
        encoder_config.output_dim,
        f"{counts['encoder']:,}",
        list(config.hidden),
        f"{counts['decoder']:,}",
        config.neighbours,
        f"{counts['blend']:,}",
        model.encoder.backend,
        "lazy Adam" if lazy else "dense Adam",
    )
    return Training(
        model=model,
        net=net,
        optimizer=optimizer,
        scheduler=CosineSchedule(optimizer, config.warmup_steps),
        scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
        generator=generator,
        amp_dtype=amp_dtype,
        lazy_tables=lazy,
    )
