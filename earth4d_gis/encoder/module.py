"""``Earth4DEncoder``: the four grids' tables as parameters, input validation, backend selection."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .backends import get_backend, resolve_backend
from .config import EncoderConfig
from .function import HashGridFunction

INIT_SCALE = 1e-4
"""Tables start uniform in [-INIT_SCALE, INIT_SCALE], as in Instant-NGP."""


def validate_coords(coords: Any, device: torch.device) -> torch.Tensor:
    """Check that ``coords`` is float64 ``[N, 4]`` in [0, 1] on ``device``; else raise ``InputError``."""
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
        if bool(bad.any()):
            row, col = (int(i) for i in torch.nonzero(bad)[0])
            raise InputError(
                f"encoder input {'xyzt'[col]} = {float(values[row, col])!r} at row {row} is outside [0, 1] "
                "(or not finite)"
            )
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
        resolve_backend(backend, self.device)

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

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        coords = validate_coords(coords, self.device)
        backend = get_backend(self.backend)
        tables = [self.tables[g.name] for g in self.config.grids]
        return HashGridFunction.apply(self.config, backend, coords, *tables)

    def indices(self, coords: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per grid, the table rows of each point's 8 corners at each level, int64 ``[N, L, 8]``."""
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
