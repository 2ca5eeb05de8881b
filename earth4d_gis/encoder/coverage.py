"""Where the training samples were: per-level cell occupancy of the spatial grid.

A hashed level that never saw a sample near a place does not read zeros there (what an unlearnt level
would say) but rows that samples elsewhere trained, through hash collisions: noise that the decoder
cannot tell from signal. ``Coverage`` records, for every level of the ``xyz`` grid, which cells held a
training sample, in a Bloom filter (a bitset, two hashes of the cell per entry). At prediction time
the finest covered level of a point tells how far the nearest samples are, and every level (of any
grid) whose spatial cell is finer than that level's cell, divided by ``ratio``, is zeroed: the model
falls back on the levels that did learn something there. Training samples always lie in covered cells,
so training is unchanged, unless the trainer shows the decoder what an unseen place looks like:
``leave_one_out_finest`` gives the finest level at which each training sample has another sample in
its cell.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from . import native
from .config import EncoderConfig, GridConfig

_PRIMES = (1, 2654435761, 805459861)
MAX_LOG2_BITS = 22
"""At most 2^22 bits (512 KiB) per level."""
MIN_LOG2_BITS = 10
BITS_PER_CELL = 16
"""Bitset size: about this many bits per covered cell of the finest level."""
_KEY_MASK = (1 << 62) - 1


def _cell_keys(coords: torch.Tensor, resolutions: torch.Tensor) -> torch.Tensor:
    """``[N, L]`` 62-bit keys of each point's integer cell (floor(coordinate * N), clamped) at each of the
    ``L`` levels whose cells per axis are ``resolutions`` (float64 ``[L, 3]``)."""
    scaled = coords[:, None, :3] * resolutions
    cells = torch.minimum(scaled.floor().clamp_(min=0.0), resolutions - 1.0).to(torch.int64)
    keys = cells[..., 0] * _PRIMES[0] ^ cells[..., 1] * _PRIMES[1] ^ cells[..., 2] * _PRIMES[2]
    return keys & _KEY_MASK


def _bloom_positions(key: torch.Tensor, log2_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two bit positions per key: its low bits, and its higher bits folded together.

    With two positions a cell that no sample held reads as covered far less often than with one (at 16
    bits per cell: ~1.4 % instead of ~6 %); this matters because one false hit at any fine level would
    keep every level down to it.
    """
    mask = (1 << log2_bits) - 1
    return key & mask, ((key >> log2_bits) ^ (key >> (2 * log2_bits))) & mask


def mask_levels(feats: torch.Tensor, keep: torch.Tensor, features_per_level: int) -> torch.Tensor:
    """``feats [N, levels * F]`` with each level multiplied by its ``keep [N, levels]`` flag."""
    n = feats.shape[0]
    weights = keep.to(feats.dtype).unsqueeze(2)
    return (feats.view(n, -1, features_per_level) * weights).view(n, -1)


def _level_cell_sizes(config: EncoderConfig) -> torch.Tensor:
    """Spatial cell size (metres) of every level of every grid, in output order."""
    return torch.tensor(
        [g.cell_size(level, 0) for g in config.grids for level in range(g.n_levels)], dtype=torch.float64
    )


class Coverage(nn.Module):
    """Per-level occupancy bitsets of the ``xyz`` grid and the level mask they imply.

    ``bits`` is ``uint8 [levels, 2**log2_bits / 8]`` (bit ``i`` of byte ``j`` flags hash ``8 * j + i``);
    it is a buffer, so it travels in the model's state dict.
    """

    def __init__(self, config: EncoderConfig, log2_bits: int, ratio: float) -> None:
        super().__init__()
        if not MIN_LOG2_BITS <= log2_bits <= MAX_LOG2_BITS:
            raise ValueError(
                f"coverage bitset of 2^{log2_bits} bits is outside 2^{MIN_LOG2_BITS}..2^{MAX_LOG2_BITS}"
            )
        if ratio < 1.0:
            raise ValueError(f"coverage ratio {ratio} must be at least 1")
        self.grid: GridConfig = config.grids[0]
        self.log2_bits = int(log2_bits)
        self.ratio = float(ratio)
        self.features = config.features_per_level
        self.register_buffer(
            "bits", torch.zeros(self.grid.n_levels, (1 << self.log2_bits) // 8, dtype=torch.uint8)
        )
        resolutions = torch.tensor(self.grid.resolutions, dtype=torch.int64)
        self.register_buffer("_resolutions", resolutions.to(torch.float64), persistent=False)
        self.register_buffer("_resolutions_int", resolutions, persistent=False)
        spatial = _level_cell_sizes(config)
        finest_cells = torch.tensor([self.grid.cell_size(level, 0) for level in range(self.grid.n_levels)])
        self.register_buffer("_level_cells", spatial, persistent=False)
        self.register_buffer("_xyz_cells", finest_cells.to(torch.float64), persistent=False)

    @staticmethod
    def bits_for(n_cells: int) -> int:
        """Bitset size (log2) for ``n_cells`` covered cells at the finest level."""
        wanted = math.ceil(math.log2(max(1, n_cells * BITS_PER_CELL)))
        return min(MAX_LOG2_BITS, max(MIN_LOG2_BITS, wanted))

    @classmethod
    def fit(cls, config: EncoderConfig, coords: torch.Tensor, ratio: float) -> Coverage:
        """Record the cells of ``coords`` (float64 ``[N, 4]`` encoder coordinates) at every xyz level."""
        coords = coords.detach().to("cpu", torch.float64)
        resolutions = torch.tensor(config.grids[0].resolutions, dtype=torch.float64)
        finest = _cell_keys(coords, resolutions[-1:])
        coverage = cls(config, cls.bits_for(int(torch.unique(finest).numel())), ratio)
        for level in range(len(resolutions)):
            keys = _cell_keys(coords, resolutions[level : level + 1])[:, 0]
            flags = np.zeros(1 << coverage.log2_bits, dtype=bool)
            for positions in _bloom_positions(keys, coverage.log2_bits):
                flags[positions.numpy()] = True
            coverage.bits[level] = torch.from_numpy(np.packbits(flags, bitorder="little"))
        return coverage

    def describe(self) -> dict[str, Any]:
        """What ``from_description`` needs to rebuild an (empty) coverage of the same shape."""
        return {"log2_bits": self.log2_bits, "ratio": self.ratio}

    @classmethod
    def from_description(cls, config: EncoderConfig, description: dict[str, Any]) -> Coverage:
        return cls(config, int(description["log2_bits"]), float(description["ratio"]))

    def finest_covered_level(self, coords: torch.Tensor, use_native: bool = False) -> torch.Tensor:
        """Per point, the finest xyz level whose cell holds a training sample (-1: none).

        ``use_native`` runs the C++ kernel (CPU tensors; the same result, several times faster) when it
        builds, else these tensor operations.
        """
        if use_native and coords.device.type == "cpu":
            try:
                module = native.load("cpu")
            except native.NativeBuildError:
                module = None
            if module is not None:
                return module.coverage_finest(
                    coords.contiguous(), self.bits, self._resolutions_int, self.log2_bits
                )
        n_levels, level_bytes = self.bits.shape
        levels = torch.arange(n_levels, device=coords.device)
        flat = self.bits.view(-1)
        covered = torch.ones(coords.shape[0], n_levels, dtype=torch.bool, device=coords.device)
        for h in _bloom_positions(_cell_keys(coords, self._resolutions), self.log2_bits):
            byte = flat[levels * level_bytes + (h >> 3)].to(torch.int64)
            covered &= ((byte >> (h & 7)) & 1).bool()
        return torch.where(covered, levels, -1).amax(dim=1)

    def keep_for_finest(self, finest: torch.Tensor) -> torch.Tensor:
        """``[N, levels]`` flags for points whose finest covered xyz level is ``finest`` (-1: none)."""
        shortest = self._xyz_cells[finest.clamp(min=0)] / self.ratio
        return self._level_cells.unsqueeze(0) >= shortest.unsqueeze(1) * (1.0 - 1e-9)

    def level_keep(self, coords: torch.Tensor, use_native: bool = False) -> torch.Tensor:
        """``[N, levels]`` flags: 1 for the levels a point keeps, 0 for those finer than its coverage."""
        return self.keep_for_finest(self.finest_covered_level(coords, use_native))

    @staticmethod
    def leave_one_out_finest(config: EncoderConfig, coords: torch.Tensor) -> torch.Tensor:
        """Per sample, the finest xyz level whose cell holds another of ``coords`` (-1: none).

        What ``finest_covered_level`` would say of the sample had it not been in the training set.
        """
        coords = coords.detach().to("cpu", torch.float64)
        resolutions = torch.tensor(config.grids[0].resolutions, dtype=torch.float64)
        finest = torch.full((coords.shape[0],), -1, dtype=torch.int64)
        for level in range(len(resolutions)):
            keys = _cell_keys(coords, resolutions[level : level + 1])[:, 0]
            _, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
            finest = torch.where(counts[inverse] >= 2, level, finest)
        return finest

    def forward(self, coords: torch.Tensor, feats: torch.Tensor, use_native: bool = False) -> torch.Tensor:
        """``feats`` with the uncovered levels of each point zeroed."""
        return mask_levels(feats, self.level_keep(coords, use_native), self.features)
