"""The pure-PyTorch backend: the oracle the native kernels are tested against.

It follows the kernels' arithmetic step by step: the cell and the fraction come from ``pos * N`` in
float64 (a point at ``pos == 1`` falls into the last cell with fraction 1), vertex indices are int64,
dense levels are row-major and hashed levels XOR the coordinates times (1, 2654435761, 805459861)
modulo the table rows. It runs in float32 or float64 (the table's dtype).
"""

from __future__ import annotations

import torch

from .config import GridConfig

PRIMES = (1, 2654435761, 805459861)

_CORNER_BITS = torch.tensor([[(c >> d) & 1 for d in range(3)] for c in range(8)], dtype=torch.int64)
"""Corner c of a cell takes the upper vertex along axis d when bit d of c is set."""


def vertex_index(grid: GridConfig, level: int, coords: torch.Tensor) -> torch.Tensor:
    """Row (within the level) of integer vertices ``coords`` int64 ``[..., 3]``, as int64 ``[...]``."""
    res = grid.resolutions[level]
    c = coords.to(torch.int64)
    if grid.level_is_dense(level):
        stride1 = res[0] + 1
        stride2 = stride1 * (res[1] + 1)
        return c[..., 0] + c[..., 1] * stride1 + c[..., 2] * stride2
    h = c[..., 0] * PRIMES[0]
    h = torch.bitwise_xor(h, c[..., 1] * PRIMES[1])
    h = torch.bitwise_xor(h, c[..., 2] * PRIMES[2])
    return torch.remainder(h, grid.level_table_rows(level))


def cell_and_fraction(
    grid: GridConfig, level: int, coords: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integer cell int64 ``[N, 3]``, fraction float64 ``[N, 3]`` and the resolution float64 ``[3]``.

    ``coords`` is the float64 ``[N, 4]`` encoder input; the grid's three columns are used.
    """
    pos = coords[:, list(grid.axes)].to(torch.float64)
    res = torch.tensor(grid.resolutions[level], dtype=torch.float64, device=coords.device)
    scaled = pos * res
    cell = torch.floor(scaled.detach())
    cell = torch.minimum(torch.clamp_min(cell, 0.0), res - 1.0)
    frac = scaled - cell
    return cell.to(torch.int64), frac, res


def corner_indices(grid: GridConfig, level: int, coords: torch.Tensor) -> torch.Tensor:
    """Rows in the grid's table (level offset included) of each point's 8 corners, int64 ``[N, 8]``."""
    cell, _, _ = cell_and_fraction(grid, level, coords)
    corners = cell[:, None, :] + _CORNER_BITS.to(coords.device)[None]
    return vertex_index(grid, level, corners) + grid.level_offsets()[level]


def grid_indices(grid: GridConfig, coords: torch.Tensor) -> torch.Tensor:
    """All levels' corner rows, int64 ``[N, L, 8]``."""
    return torch.stack([corner_indices(grid, lvl, coords) for lvl in range(grid.n_levels)], dim=1)


def _axis_weights(frac: torch.Tensor, smoothstep: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights of the upper vertex per axis and their derivative with respect to the fraction."""
    if smoothstep:
        return frac * frac * (3.0 - 2.0 * frac), 6.0 * frac * (1.0 - frac)
    return frac, torch.ones_like(frac)


def _corner_weights(w_up: torch.Tensor) -> torch.Tensor:
    """Trilinear weight of each corner, ``[N, 8]``, from the per-axis upper weights ``[N, 3]``."""
    bits = _CORNER_BITS.to(w_up.device)
    per_axis = torch.where(bits[None].bool(), w_up[:, None, :], 1.0 - w_up[:, None, :])
    return per_axis.prod(dim=2)


def grid_forward(
    grid: GridConfig, coords: torch.Tensor, table: torch.Tensor, smoothstep: bool
) -> torch.Tensor:
    """Features ``[N, L * F]`` (level-major) of one grid, in the table's dtype."""
    outs = []
    for level in range(grid.n_levels):
        idx = corner_indices(grid, level, coords)
        _, frac, _ = cell_and_fraction(grid, level, coords)
        w_up, _ = _axis_weights(frac, smoothstep)
        w = _corner_weights(w_up).to(table.dtype)
        outs.append((table[idx] * w[:, :, None]).sum(dim=1))
    return torch.cat(outs, dim=1)


def grid_backward(
    grid: GridConfig,
    coords: torch.Tensor,
    table: torch.Tensor,
    grad_out: torch.Tensor,
    smoothstep: bool,
    need_coords_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Gradients of ``grid_forward`` w.r.t. the table and (optionally) the ``[N, 4]`` coordinates."""
    n_feat = table.shape[1]
    grad_table = torch.zeros_like(table)
    grad_coords = torch.zeros_like(coords) if need_coords_grad else None
    bits = _CORNER_BITS.to(coords.device)
    for level in range(grid.n_levels):
        g = grad_out[:, level * n_feat : (level + 1) * n_feat].to(table.dtype)
        idx = corner_indices(grid, level, coords)
        _, frac, res = cell_and_fraction(grid, level, coords)
        w_up, dw_up = _axis_weights(frac, smoothstep)
        w = _corner_weights(w_up).to(table.dtype)
        contrib = (w[:, :, None] * g[:, None, :]).reshape(-1, n_feat)
        grad_table.index_add_(0, idx.reshape(-1), contrib)
        if grad_coords is not None:
            dot = (table[idx] * g[:, None, :]).sum(dim=2).to(torch.float64)
            per_axis = torch.where(bits[None].bool(), w_up[:, None, :], 1.0 - w_up[:, None, :])
            sign = bits.to(torch.float64) * 2.0 - 1.0
            for d, axis in enumerate(grid.axes):
                others = [e for e in range(3) if e != d]
                dw = sign[None, :, d] * dw_up[:, None, d] * per_axis[:, :, others].prod(dim=2)
                grad_coords[:, axis] += (dot * dw).sum(dim=1) * res[d]
    return grad_table, grad_coords
