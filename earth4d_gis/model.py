"""The Earth4D model: hash grids and a smooth encoding into an MLP, blended with the nearest samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .encoder import Earth4DEncoder, EncoderConfig, native
from .encoder.smooth import SmoothConfig, SmoothEncoding
from .neighbours import NeighbourBlend, SampleBank, can_fuse, fused_blend

EMBEDDING_DIM = 64
_BLEND_CHUNK = 1024
"""Points per chunk of the neighbour blend at inference."""

Neighbours = tuple[torch.Tensor, torch.Tensor]
"""Neighbour rows of a batch in the sample bank and their distances (metres), each ``[N, k]``."""


class Earth4DModel(nn.Module):
    """(x, y, z, t) in [0, 1] -> a 64-D embedding in (-1, 1).

    The field: the hash grids' features and the smooth encoding (random Fourier features on the sphere,
    height, latitude) go through Linear -> LayerNorm -> GELU -> Dropout per hidden width, then
    Linear -> tanh. With a ``bank`` of training samples the field's prediction is blended with each
    point's nearest samples (``neighbours.NeighbourBlend``). Coordinates stay float64 up to the encoders.
    """

    def __init__(
        self,
        encoder_config: EncoderConfig,
        hidden: Sequence[int] = (128, 128),
        dropout: float = 0.0,
        backend: str | None = None,
        output_dim: int = EMBEDDING_DIM,
        smooth: SmoothConfig | None = None,
        bank: SampleBank | None = None,
        blend_activation: str = "relu",
    ) -> None:
        super().__init__()
        self.encoder_config = encoder_config
        self.hidden = tuple(int(w) for w in hidden)
        self.dropout = float(dropout)
        self.output_dim = int(output_dim)
        self.encoder = Earth4DEncoder(encoder_config, backend=backend)
        self.smooth = SmoothEncoding(smooth)
        layers: list[nn.Module] = []
        width = encoder_config.output_dim + self.smooth.output_dim
        for w in self.hidden:
            layers += [nn.Linear(width, w), nn.LayerNorm(w), nn.GELU(), nn.Dropout(self.dropout)]
            width = w
        layers += [nn.Linear(width, self.output_dim), nn.Tanh()]
        self.decoder = nn.Sequential(*layers)
        if bank is not None:
            with torch.no_grad():
                # The field starts near zero, so the blend starts as inverse-distance weighting.
                layers[-2].weight.mul_(0.1)
                layers[-2].bias.zero_()
        self.bank = bank
        self.blend = NeighbourBlend(activation=blend_activation) if bank is not None else None
        self.fuse_blend = True
        """At inference on the CPU, blend in the native kernel (``neighbours.fused_blend``) when it can."""

    def field(self, coords: torch.Tensor) -> torch.Tensor:
        """The network's own prediction (no samples): float64 ``[N, 4]`` -> float32 ``[N, 64]``."""
        parts = (self.encoder(coords), *self.smooth.parts(coords))
        # The first layer over the concatenated features as a sum of products by column blocks of its
        # weight: the same numbers, without the wide copy.
        first = self.decoder[0]
        blocks = torch.split(first.weight, [p.shape[1] for p in parts], dim=1)
        h = first.bias
        for part, block in zip(parts, blocks, strict=True):
            h = torch.addmm(h, part, block.T)
        for layer in self.decoder[1:]:
            h = layer(h)
        return h

    def forward_parts(
        self, coords: torch.Tensor, neighbours: Neighbours | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(the blended prediction, the field's own); ``neighbours`` default to the bank's nearest."""
        field = self.field(coords)
        if self.bank is None or self.blend is None:
            return field, field
        return self.blend_with(coords, field, neighbours), field

    def blend_with(
        self, coords: torch.Tensor, field: torch.Tensor, neighbours: Neighbours | None = None
    ) -> torch.Tensor:
        """The blend of this field prediction with the points' nearest samples (the bank's by default)."""
        if self.bank is None or self.blend is None:
            return field
        if neighbours is None:
            idx, dist = self.bank.query(coords)
        else:
            idx, dist = neighbours
        idx, dist = idx.to(coords.device), dist.to(coords.device)
        kernels = self._blend_kernels(coords, field)
        if kernels is not None:
            return fused_blend(kernels, self.bank, self.blend, coords, field, idx, dist)
        if torch.is_grad_enabled() or len(coords) <= _BLEND_CHUNK:
            return self._blend(coords, field, idx, dist)
        # Inference in chunks: a chunk's neighbour rows (N x k x 64 floats) stay small and in cache.
        return torch.cat(
            [
                self._blend(
                    coords[i : i + _BLEND_CHUNK],
                    field[i : i + _BLEND_CHUNK],
                    idx[i : i + _BLEND_CHUNK],
                    dist[i : i + _BLEND_CHUNK],
                )
                for i in range(0, len(coords), _BLEND_CHUNK)
            ]
        )

    def _blend_kernels(self, coords: torch.Tensor, field: torch.Tensor) -> Any:
        """The native CPU kernels when the fused blend applies: inference (no gradients) on the CPU in
        float32, a blend the kernel computes (``can_fuse``), and the encoder on its native CPU backend (so
        the extension is built and loaded)."""
        if (
            not self.fuse_blend
            or torch.is_grad_enabled()
            or coords.device.type != "cpu"
            or field.dtype != torch.float32
            or self.bank is None
            or self.blend is None
            or not can_fuse(self.bank, self.blend)
            or self.encoder.backend != "cpu"
        ):
            return None
        return native.load("cpu")

    def _blend(
        self, coords: torch.Tensor, field: torch.Tensor, idx: torch.Tensor, dist: torch.Tensor
    ) -> torch.Tensor:
        assert self.bank is not None and self.blend is not None
        pairs = self.bank.pair_features(coords, idx, dist)
        return self.blend(field, self.bank.neighbour_rows(idx), pairs)

    def forward(self, coords: torch.Tensor, neighbours: Neighbours | None = None) -> torch.Tensor:
        """float64 ``[N, 4]`` encoder coordinates -> float32 ``[N, 64]``."""
        return self.forward_parts(coords, neighbours)[0]

    def describe(self) -> dict[str, Any]:
        """Everything needed to rebuild this architecture, as JSON-able values."""
        bank = None
        if self.bank is not None and self.blend is not None:
            bank = {"size": len(self.bank), "k": self.bank.k, "activation": self.blend.activation}
        return {
            "encoder_config": self.encoder_config.to_dict(),
            "decoder": {"hidden": list(self.hidden), "dropout": self.dropout, "output_dim": self.output_dim},
            "smooth": self.smooth.config.to_dict(),
            "bank": bank,
        }

    @classmethod
    def from_description(cls, description: dict[str, Any], backend: str | None = None) -> Earth4DModel:
        """Rebuild an (untrained) model from ``describe()``'s output."""
        decoder = description["decoder"]
        encoder_config = EncoderConfig.from_dict(description["encoder_config"])
        bank = description.get("bank")
        return cls(
            encoder_config,
            hidden=decoder["hidden"],
            dropout=decoder["dropout"],
            backend=backend,
            output_dim=decoder.get("output_dim", EMBEDDING_DIM),
            smooth=SmoothConfig.from_dict(description["smooth"]),
            bank=SampleBank(bank["size"], bank["k"], encoder_config.time_span) if bank else None,
            # Model files from before the ReLU blend name no activation: theirs was GELU.
            blend_activation=bank.get("activation", "gelu") if bank else "relu",
        )

    def parameter_count(self) -> dict[str, int]:
        """Parameter counts of the encoder tables, the decoder and the neighbour blend; samples stored."""
        return {
            "encoder": sum(p.numel() for p in self.encoder.parameters()),
            "decoder": sum(p.numel() for p in self.decoder.parameters()),
            "blend": sum(p.numel() for p in self.blend.parameters()) if self.blend is not None else 0,
            "bank_samples": len(self.bank) if self.bank is not None else 0,
        }
