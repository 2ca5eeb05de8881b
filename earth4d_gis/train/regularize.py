"""Regularisers that teach the model to generalise between scattered samples.

At a place far from every training sample, the fine levels of the hash grids hold nothing learnt
(entries near their initial zero, or another place's values through a hash collision), while at every
training sample they hold that sample's detail. A decoder that has only ever seen the second case
extrapolates badly in the first. ``LevelMask`` shows it the first case during training: for a share of
the samples it zeroes all levels finer than a random cut-off, per grid, so the decoder learns to
predict from the coarse levels alone when the fine ones say nothing. It is off by default: on the demo
world it cost more at places close to a sample than it gained between samples. ``CoverageDropout`` does
the same job where it is needed, from where the training samples really are.

Both draw their randomness from ``noise``: uniforms in [0, 1), ``noise_width`` per sample. The trainer
draws them per epoch and per training sample from its own seeded generator, so a sample gets the same
mask whichever process of a ``torchrun`` job trains it, and a resumed run draws what the uninterrupted
one did. Without ``noise`` they draw from torch's global generator.
"""

from __future__ import annotations

import torch
from torch import nn

from ..encoder import EncoderConfig
from ..encoder.coverage import Coverage, mask_levels


class LevelMask(nn.Module):
    """Zero the levels finer than a random per-sample, per-grid cut-off (training only; no rescaling).

    ``probability`` is the share of (sample, grid) pairs that get a cut-off; the cut-off level is
    uniform in [``min_level``, levels] (levels: nothing is cut).
    """

    def __init__(self, config: EncoderConfig, probability: float, min_level: int = 1) -> None:
        super().__init__()
        self.probability = float(probability)
        self.features = config.features_per_level
        grid_of, level_of, sizes = [], [], []
        for g_index, grid in enumerate(config.grids):
            sizes.append(grid.n_levels)
            grid_of += [g_index] * grid.n_levels
            level_of += list(range(grid.n_levels))
        self.min_level = int(min_level)
        self.register_buffer("grid_of", torch.tensor(grid_of, dtype=torch.long), persistent=False)
        self.register_buffer("level_of", torch.tensor(level_of, dtype=torch.long), persistent=False)
        self.register_buffer("n_levels", torch.tensor(sizes, dtype=torch.long), persistent=False)

    @property
    def noise_width(self) -> int:
        """Uniforms used per sample (two per grid), 0 when the mask is off."""
        return 2 * self.n_levels.shape[0] if self.probability > 0.0 else 0

    def forward(self, feats: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if not self.training or self.probability <= 0.0:
            return feats
        n, n_grids = feats.shape[0], self.n_levels.shape[0]
        if noise is None:
            noise = torch.rand(n, 2 * n_grids, device=feats.device)
        low = min(self.min_level, int(self.n_levels.min()))
        u, r = noise[:, :n_grids], noise[:, n_grids:]
        span = (self.n_levels + 1 - low).to(feats.dtype)
        cut = low + torch.floor(r * span).long().clamp_max(self.n_levels - low)
        cut = torch.where(u < self.probability, cut, self.n_levels.expand(n, -1))
        # One flag per (sample, level), broadcast over the level's features.
        return mask_levels(feats, self.level_of.unsqueeze(0) < cut[:, self.grid_of], self.features)


class CoverageDropout(nn.Module):
    """For a share of the samples, zero the levels their leave-one-out coverage would not keep.

    At prediction time the model's ``Coverage`` zeroes the levels finer than the data near a point
    supports; a training sample always covers its own cells, so without this the decoder never sees
    that case. ``finest`` is each sample's leave-one-out finest covered level
    (``Coverage.leave_one_out_finest``).
    """

    def __init__(self, coverage: Coverage, probability: float) -> None:
        super().__init__()
        self.coverage = coverage
        self.probability = float(probability)

    @property
    def noise_width(self) -> int:
        """Uniforms used per sample (one), 0 when off."""
        return 1 if self.probability > 0.0 else 0

    def forward(
        self, feats: torch.Tensor, finest: torch.Tensor | None, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        if not self.training or self.probability <= 0.0 or finest is None:
            return feats
        if noise is None:
            noise = torch.rand(feats.shape[0], 1, device=feats.device)
        chosen = noise[:, :1] < self.probability
        keep = self.coverage.keep_for_finest(finest) | ~chosen
        return mask_levels(feats, keep, self.coverage.features)
