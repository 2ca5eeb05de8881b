"""The Earth4D model: the multiresolution hash encoder followed by a small MLP decoder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .encoder import Earth4DEncoder, EncoderConfig
from .encoder.coverage import Coverage

EMBEDDING_DIM = 64


class Earth4DModel(nn.Module):
    """(x, y, z, t) in [0, 1] -> a 64-D embedding in (-1, 1).

    The decoder is Linear -> LayerNorm -> GELU -> Dropout per hidden width, then Linear -> tanh, as in the
    original pipeline. Coordinates stay float64 up to the encoder; only features and weights are float32.
    A fitted ``coverage`` (where the training samples were) zeroes, outside training, the levels finer
    than the data near each point supports.
    """

    def __init__(
        self,
        encoder_config: EncoderConfig,
        hidden: Sequence[int] = (256, 256),
        dropout: float = 0.1,
        backend: str | None = None,
        output_dim: int = EMBEDDING_DIM,
    ) -> None:
        super().__init__()
        self.encoder_config = encoder_config
        self.hidden = tuple(int(w) for w in hidden)
        self.dropout = float(dropout)
        self.output_dim = int(output_dim)
        self.encoder = Earth4DEncoder(encoder_config, backend=backend)
        layers: list[nn.Module] = []
        width = encoder_config.output_dim
        for w in self.hidden:
            layers += [nn.Linear(width, w), nn.LayerNorm(w), nn.GELU(), nn.Dropout(self.dropout)]
            width = w
        layers += [nn.Linear(width, self.output_dim), nn.Tanh()]
        self.decoder = nn.Sequential(*layers)
        self.coverage: Coverage | None = None

    def features(self, coords: torch.Tensor) -> torch.Tensor:
        """The encoder's features, with the uncovered levels zeroed when not training."""
        feats = self.encoder(coords)
        if self.coverage is not None and not self.training:
            feats = self.coverage(coords, feats, use_native=self.encoder.backend == "cpu")
        return feats

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """float64 ``[N, 4]`` encoder coordinates -> float32 ``[N, 64]``."""
        return self.decoder(self.features(coords))

    def describe(self) -> dict[str, Any]:
        """Everything needed to rebuild this architecture, as JSON-able values."""
        return {
            "encoder_config": self.encoder_config.to_dict(),
            "decoder": {"hidden": list(self.hidden), "dropout": self.dropout, "output_dim": self.output_dim},
            "coverage": self.coverage.describe() if self.coverage is not None else None,
        }

    @classmethod
    def from_description(cls, description: dict[str, Any], backend: str | None = None) -> Earth4DModel:
        """Rebuild an (untrained) model from ``describe()``'s output."""
        decoder = description["decoder"]
        model = cls(
            EncoderConfig.from_dict(description["encoder_config"]),
            hidden=decoder["hidden"],
            dropout=decoder["dropout"],
            backend=backend,
            output_dim=decoder.get("output_dim", EMBEDDING_DIM),
        )
        if description.get("coverage"):
            model.coverage = Coverage.from_description(model.encoder_config, description["coverage"])
        return model

    def parameter_count(self) -> dict[str, int]:
        """Parameter counts of the encoder tables and the decoder."""
        return {
            "encoder": sum(p.numel() for p in self.encoder.parameters()),
            "decoder": sum(p.numel() for p in self.decoder.parameters()),
        }
