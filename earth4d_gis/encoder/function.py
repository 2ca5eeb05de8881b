"""The one autograd Function through which every backend computes the encoder's features."""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable

from .backends import Backend
from .config import EncoderConfig


class HashGridFunction(torch.autograd.Function):
    """Features of all grids; gradients to the tables and, when required, to the coordinates."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, config: EncoderConfig, backend: Backend, coords: torch.Tensor, *tables: torch.Tensor
    ) -> torch.Tensor:
        ctx.save_for_backward(coords, *tables)
        ctx.config, ctx.backend = config, backend
        return backend.forward(config, coords, list(tables))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        coords, *tables = ctx.saved_tensors
        grads, grad_coords = ctx.backend.backward(
            ctx.config, coords, tables, grad_out, ctx.needs_input_grad[2]
        )
        return (None, None, grad_coords, *grads)
