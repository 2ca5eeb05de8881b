"""The smooth global encoding beside the hash grids: random Fourier features on the sphere plus geography.

A hash grid learns detail cell by cell and so learns the large, smooth part of a field poorly between
its samples; random Fourier features of the position on the unit sphere (a few fixed frequency bands)
give the decoder a smooth basis for it, and the height above the ellipsoid and the latitude, which land
cover depends on (treeline, snow line), enter the decoder directly instead of only through ECEF, where
2 km of height is invisible at every coarse level. Everything is computed from the encoder's own
``[N, 4]`` input, so callers pass the same coordinates as to the hash grids.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..geodesy import ECEF_SCALE, WGS84_A, WGS84_E2
from .module import validate_coords

_HEIGHT_SCALE_M = 1000.0
_WGS84_B = WGS84_A * (1.0 - WGS84_E2) ** 0.5


@dataclass(frozen=True)
class SmoothConfig:
    """Random Fourier features: ``n_per_scale`` directions for each angular ``scale`` (cycles per radian)."""

    n_per_scale: int = 48
    scales: tuple[float, ...] = (2.0, 8.0, 32.0)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_per_scale < 0:
            raise InputError(f"smooth encoding n_per_scale {self.n_per_scale} must not be negative")
        if any(not s > 0 for s in self.scales):
            raise InputError(f"smooth encoding scales {list(self.scales)} must be positive")

    @property
    def output_dim(self) -> int:
        """Sines and cosines of every frequency, plus height, sin and cos of latitude."""
        return 2 * self.n_per_scale * len(self.scales) + 3

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scales"] = list(self.scales)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SmoothConfig:
        return cls(int(d["n_per_scale"]), tuple(float(s) for s in d["scales"]), int(d["seed"]))


def geography(coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From encoder coordinates: ECEF unit direction ``[N, 3]``, height above the ellipsoid (m), sin(lat).

    The height is measured along the geocentric radius, within a metre of the geodetic height on land.
    """
    xyz = (coords[:, :3].double() * 2.0 - 1.0) * ECEF_SCALE
    r = torch.linalg.vector_norm(xyz, dim=1).clamp_min(1.0)
    unit = xyz / r[:, None]
    sin_lat = unit[:, 2]
    cos_lat = torch.sqrt(torch.clamp(1.0 - sin_lat * sin_lat, min=0.0))
    radius = WGS84_A * _WGS84_B / torch.sqrt((_WGS84_B * cos_lat) ** 2 + (WGS84_A * sin_lat) ** 2)
    return unit, r - radius, sin_lat


class SmoothEncoding(nn.Module):
    """float64 ``[N, 4]`` encoder coordinates -> float32 ``[N, output_dim]`` smooth features."""

    def __init__(self, config: SmoothConfig | None = None) -> None:
        super().__init__()
        self.config = config or SmoothConfig()
        generator = torch.Generator().manual_seed(self.config.seed)
        directions = [
            torch.randn(self.config.n_per_scale, 3, generator=generator, dtype=torch.float64) * s
            for s in self.config.scales
        ]
        freqs = torch.cat(directions) if directions else torch.zeros(0, 3, dtype=torch.float64)
        self.register_buffer("frequencies", freqs, persistent=False)

    @property
    def output_dim(self) -> int:
        return self.config.output_dim

    def parts(self, coords: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The features as float32 column blocks, in order (sines, cosines, geography ``[N, 3]``):
        ``forward`` is their concatenation; a decoder can take them apart without the wide copy."""
        coords = validate_coords(coords, self.frequencies.device)
        unit, height, sin_lat = geography(coords)
        # float32 phases: within 1e-5 rad of float64 at these frequencies, and sin/cos 3x faster.
        phase = unit.float() @ self.frequencies.float().T
        cos_lat = torch.sqrt(torch.clamp(1.0 - sin_lat * sin_lat, min=0.0))
        geo = torch.stack([height / _HEIGHT_SCALE_M, sin_lat, cos_lat], dim=1).float()
        return torch.sin(phase), torch.cos(phase), geo

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.parts(coords), dim=1)
