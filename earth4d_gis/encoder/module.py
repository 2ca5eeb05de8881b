"""``Earth4DEncoder``: the four grids' tables as parameters, input validation, backend selection."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .backends import check_backend, fallback_reason, get_backend, requested_name, resolve_backend
from .config import EncoderConfig
from .function import HashGridFunction

INIT_SCALE = 1e-4
"""Tables start uniform in [-INIT_SCALE, INIT_SCALE], as in Instant-NGP."""


def _out_of_range_message(values: torch.Tensor, bad: torch.Tensor) -> str:
    row, col = (int(i) for i in torch.nonzero(bad)[0])
    return (
        f"encoder input {'xyzt'[col]} = {float(values[row, col])!r} at row {row} is outside [0, 1] "
        "(or not finite)"
    )


class _DeferredRangeCheck:
    """The [0, 1] check of an encoder call whose answer is still on the GPU.

    Asking the GPU "is any value bad?" before every training step would make the host wait for it each
    step. Instead the answer is copied to pinned host memory without waiting, and read by a later encoder
    call once the GPU has got there (or by ``check_pending_inputs``, which waits). The kernels stay in
    bounds for any input (cells are clamped), so only the error's timing changes.
    """

    def __init__(self, values: torch.Tensor, bad: torch.Tensor) -> None:
        self.values, self.bad = values, bad
        self.flag = torch.empty((), dtype=torch.bool, pin_memory=values.is_cuda)
        self.flag.copy_(bad.any(), non_blocking=True)
        self.event = torch.cuda.Event() if values.is_cuda else None
        if self.event is not None:
            self.event.record()

    def ready(self) -> bool:
        return self.event is None or self.event.query()

    def raise_if_bad(self) -> None:
        if self.event is not None:
            self.event.synchronize()
        if bool(self.flag):
            message = _out_of_range_message(self.values, self.bad)
            raise InputError(f"{message}, in the previous GPU training call")


_pending: list[_DeferredRangeCheck] = []
_MAX_PENDING = 8
"""Deferred checks kept at most; beyond that the oldest is waited for (the host is that far ahead)."""


def check_pending_inputs(wait: bool = True) -> None:
    """Raise ``InputError`` for a deferred input check that failed (see ``validate_coords``); with
    ``wait`` False only the checks whose answer has arrived are read, so the host never waits."""
    while _pending and (wait or len(_pending) > _MAX_PENDING or _pending[0].ready()):
        _pending.pop(0).raise_if_bad()


def validate_coords(coords: Any, device: torch.device, defer: bool | None = None) -> torch.Tensor:
    """Check that ``coords`` is float64 ``[N, 4]`` in [0, 1] on ``device``; else raise ``InputError``.

    The range check of a GPU training call (``defer`` None: CUDA tensors with gradients enabled) is
    deferred to a later call, so that the host does not wait for the GPU on every step; every other call
    is checked at once, and first waits for and raises any deferred check that failed.
    """
    if isinstance(coords, np.ndarray):
        coords = torch.from_numpy(coords)
    if not isinstance(coords, torch.Tensor):
        raise InputError(f"encoder input must be a float64 tensor [N, 4], not {type(coords).__name__}")
    if coords.dim() != 2 or coords.shape[1] != 4:
        raise InputError(f"encoder input must have shape [N, 4] (x, y, z, t), not {list(coords.shape)}")
    if coords.dtype != torch.float64:
        raise InputError(
            f"encoder input must be float64, not {coords.dtype} (lower precision loses the finest levels)"
        )
    if coords.device != device:
        raise InputError(f"encoder input is on {coords.device} but the encoder is on {device}")
    if coords.shape[0]:
        values = coords.detach()
        bad = ~(torch.isfinite(values) & (values >= 0.0) & (values <= 1.0))
        if defer is None:
            defer = values.is_cuda and torch.is_grad_enabled()
        check_pending_inputs(wait=not defer)
        if defer:
            _pending.append(_DeferredRangeCheck(values, bad))
        elif bool(bad.any()):
            raise InputError(_out_of_range_message(values, bad))
    return coords


class Earth4DEncoder(nn.Module):
    """Multiresolution hash encoding of (x, y, z, t) in [0, 1]: float64 ``[N, 4]`` -> ``[N, output_dim]``.

    Output columns are [xyz | xyt | yzt | xzt], each levels x features. ``backend`` (or the environment
    variable ``EARTH4D_BACKEND``) forces "reference", "cpu" or "cuda"; ``None`` picks by device.
    """

    def __init__(
        self,
        config: EncoderConfig,
        backend: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.config = config
        self.requested_backend = backend
        f = config.features_per_level
        self.tables = nn.ParameterDict(
            {
                g.name: nn.Parameter(torch.empty(g.total_rows, f, device=device, dtype=dtype))
                for g in config.grids
            }
        )
        self.reset_parameters()
        check_backend(backend, self.device)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for table in self.tables.values():
                table.uniform_(-INIT_SCALE, INIT_SCALE)

    @property
    def device(self) -> torch.device:
        return next(iter(self.tables.values())).device

    @property
    def output_dim(self) -> int:
        return self.config.output_dim

    @property
    def backend(self) -> str:
        """The backend this encoder runs with on its current device."""
        return resolve_backend(self.requested_backend, self.device)

    @property
    def backend_fallback(self) -> str | None:
        """Why the automatic backend choice fell back to the slow reference here (``None`` if it did not)."""
        if requested_name(self.requested_backend) is not None or self.backend != "reference":
            return None
        return fallback_reason("cuda" if self.device.type == "cuda" else "cpu")

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        coords = validate_coords(coords, self.device)
        backend = get_backend(self.backend)
        tables = [self.tables[g.name] for g in self.config.grids]
        return HashGridFunction.apply(self.config, backend, coords, *tables)

    def indices(self, coords: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per grid, the table rows of each point's 8 corners at each level, int64 ``[N, L, 8]``.

        Public API: it lets anyone check that every backend hashes a point to the same rows (DESIGN.md's
        agreement of backends), and shows which table rows a point touches (collisions, occupancy).
        """
        coords = validate_coords(coords, self.device)
        rows = get_backend(self.backend).indices(self.config, coords)
        sizes = [g.n_levels for g in self.config.grids]
        return {
            g.name: part for g, part in zip(self.config.grids, torch.split(rows, sizes, dim=1), strict=True)
        }

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"preset={c.name}, output_dim={c.output_dim}, params={c.n_params:,} "
            f"({c.size_mb_fp32:.1f} MB fp32), backend={self.requested_backend or 'auto'}"
        )
