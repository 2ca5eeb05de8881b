"""The level mask: zeroes whole levels finer than a per-grid cut-off, in training only."""

from __future__ import annotations

import torch

from earth4d_gis.encoder import EncoderConfig
from earth4d_gis.train.regularize import LevelMask


def _levels(config: EncoderConfig, feats: torch.Tensor) -> torch.Tensor:
    return feats.view(feats.shape[0], -1, config.features_per_level)


def test_mask_zeroes_a_suffix_of_levels_per_grid(tiny_config: EncoderConfig) -> None:
    torch.manual_seed(0)
    mask = LevelMask(tiny_config, probability=1.0, min_level=1).train()
    feats = torch.rand(500, tiny_config.output_dim) + 0.5
    kept = _levels(tiny_config, mask(feats)).ne(0)
    assert torch.equal(kept.all(dim=2), kept.any(dim=2)), "a level is kept or dropped as a whole"
    start = 0
    for grid in tiny_config.grids:
        levels = kept[:, start : start + grid.n_levels, 0]
        start += grid.n_levels
        assert levels[:, 0].all(), "levels below min_level are always kept"
        # Once a level is dropped, every finer level of the grid is dropped too.
        assert torch.equal(levels, levels.cummin(dim=1).values)
        assert (~levels).any(), "some fine levels are dropped"


def test_mask_is_identity_in_eval_and_at_probability_zero(tiny_config: EncoderConfig) -> None:
    feats = torch.rand(64, tiny_config.output_dim)
    assert torch.equal(LevelMask(tiny_config, 1.0).eval()(feats), feats)
    assert torch.equal(LevelMask(tiny_config, 0.0).train()(feats), feats)


def test_kept_values_are_unchanged(tiny_config: EncoderConfig) -> None:
    torch.manual_seed(1)
    feats = torch.rand(256, tiny_config.output_dim) + 0.5
    out = LevelMask(tiny_config, 0.5).train()(feats)
    nonzero = out.ne(0)
    assert torch.equal(out[nonzero], feats[nonzero])
    assert nonzero.float().mean() < 1.0


def test_mask_of_a_sample_depends_on_its_noise_not_on_its_batch(tiny_config: EncoderConfig) -> None:
    """The trainer draws the noise per sample: any split of a batch (torchrun shards) gives the same rows."""
    mask = LevelMask(tiny_config, 0.7).train()
    feats = torch.rand(300, tiny_config.output_dim) + 0.5
    noise = torch.rand(300, mask.noise_width, generator=torch.Generator().manual_seed(5))
    whole = mask(feats, noise)
    halves = torch.cat([mask(feats[:120], noise[:120]), mask(feats[120:], noise[120:])])
    assert torch.equal(whole, halves)
    assert whole.eq(0).any(), "some levels are dropped"
    other = mask(feats, torch.rand(300, mask.noise_width, generator=torch.Generator().manual_seed(6)))
    assert not torch.equal(whole, other)
    assert LevelMask(tiny_config, 0.0).noise_width == 0
