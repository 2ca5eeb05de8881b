"""Coverage: the model knows where its training samples were and zeroes the levels it never learnt there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from earth4d_gis.checkpoint import ModelBundle, load_model_file, save_model_file
from earth4d_gis.encoder import EncoderConfig, native
from earth4d_gis.encoder.coverage import MAX_LOG2_BITS, MIN_LOG2_BITS, Coverage
from earth4d_gis.geodesy import TimeSpan, normalized_coordinates
from earth4d_gis.model import Earth4DModel
from earth4d_gis.train.regularize import CoverageDropout


def _coords(lat: list[float], lon: list[float]) -> torch.Tensor:
    n = len(lat)
    return torch.from_numpy(normalized_coordinates(lat, lon, np.zeros(n), "2020-06-01", TimeSpan()))


def _cluster(n: int = 200, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return _coords(list(37.5 + rng.normal(0, 0.02, n)), list(-122.2 + rng.normal(0, 0.02, n)))


def _model_with_coverage(config: EncoderConfig) -> Earth4DModel:
    """A small model with random tables and the coverage of a Bay Area cluster."""
    torch.manual_seed(0)
    model = Earth4DModel(config, hidden=(16,), dropout=0.0, backend="reference")
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.uniform_(-1, 1)
    model.coverage = Coverage.fit(config, _cluster(), ratio=1.75)
    return model


def test_training_points_are_covered_at_every_level(tiny_config: EncoderConfig) -> None:
    train = _cluster()
    coverage = Coverage.fit(tiny_config, train, ratio=1.75)
    finest = coverage.finest_covered_level(train)
    assert torch.all(finest == tiny_config.grids[0].n_levels - 1)
    assert coverage.level_keep(train).all()


def test_a_far_point_keeps_only_coarse_levels(tiny_config: EncoderConfig) -> None:
    coverage = Coverage.fit(tiny_config, _cluster(), ratio=1.75)
    far = _coords([-33.9], [151.2])  # Sydney, ~12,000 km from every training sample
    assert coverage.finest_covered_level(far).item() == -1
    keep = coverage.level_keep(far)[0]
    n_xyz = tiny_config.grids[0].n_levels
    assert not keep[1:n_xyz].any(), "fine xyz levels are zeroed"
    # Levels whose cells are at least the coarsest xyz cell / ratio stay (the space-time grids' 1000 km).
    assert keep[n_xyz:].all()


def test_a_point_a_few_cells_away_keeps_the_levels_coarser_than_its_gap(tiny_config: EncoderConfig) -> None:
    grid = tiny_config.grids[0]
    train = _coords([37.5], [-122.2])
    coverage = Coverage.fit(tiny_config, train, ratio=1.0)
    # ~2 km east: farther than the finest cells (50 m), closer than the coarsest (5 km).
    near = _coords([37.5], [-122.2 + 2000 / 88_000])
    finest = coverage.finest_covered_level(near).item()
    assert 0 <= finest < grid.n_levels - 1
    keep = coverage.level_keep(near)[0, : grid.n_levels]
    assert keep[: finest + 1].all() and not keep[finest + 1 :].any()


def test_leave_one_out_needs_another_sample_in_the_cell(tiny_config: EncoderConfig) -> None:
    pair = _coords([37.5, 37.5], [-122.2, -122.2])  # two records at one place
    lonely = _coords([-33.9], [151.2])
    coords = torch.cat([pair, lonely])
    finest = Coverage.leave_one_out_finest(tiny_config, coords)
    last = tiny_config.grids[0].n_levels - 1
    assert finest.tolist() == [last, last, -1]


def test_bitset_size_follows_the_number_of_cells() -> None:
    assert Coverage.bits_for(1) == MIN_LOG2_BITS
    assert Coverage.bits_for(10**9) == MAX_LOG2_BITS
    assert 2 ** Coverage.bits_for(100_000) >= 100_000 * 8


def test_model_applies_coverage_only_outside_training(tiny_config: EncoderConfig) -> None:
    model = _model_with_coverage(tiny_config)
    far = _coords([-33.9], [151.2])
    model.train()
    raw = model.features(far)
    model.eval()
    masked = model.features(far)
    assert not torch.equal(raw, masked)
    n_fine = (tiny_config.grids[0].n_levels - 1) * tiny_config.features_per_level
    f = tiny_config.features_per_level
    assert torch.all(masked[0, f : f + n_fine] == 0)


def test_coverage_survives_the_model_file(tiny_config: EncoderConfig, tmp_path: Path) -> None:
    model = _model_with_coverage(tiny_config)
    model.eval()
    probe = torch.cat([_cluster(seed=1), _coords([-33.9, 0.0], [151.2, 0.0])])
    expected = model(probe)
    path = save_model_file(ModelBundle(model=model, time_span=TimeSpan()), tmp_path / "m.pt")
    loaded = load_model_file(path, backend="reference").model
    assert loaded.coverage is not None
    assert torch.equal(loaded.coverage.bits, model.coverage.bits)
    assert torch.allclose(loaded(probe), expected)


def test_coverage_dropout_masks_only_the_chosen_share(tiny_config: EncoderConfig) -> None:
    torch.manual_seed(0)
    coverage = Coverage.fit(tiny_config, _cluster(), ratio=1.75)
    dropout = CoverageDropout(coverage, probability=0.5).train()
    feats = torch.rand(2000, tiny_config.output_dim) + 0.5
    lonely = torch.full((2000,), -1, dtype=torch.int64)
    out = dropout(feats, lonely)
    masked_rows = out.eq(0).any(dim=1).float().mean().item()
    assert 0.4 < masked_rows < 0.6
    assert torch.equal(dropout.eval()(feats, lonely), feats)
    covered = torch.full((2000,), tiny_config.grids[0].n_levels - 1, dtype=torch.int64)
    assert torch.equal(dropout.train()(feats, covered), feats)


def test_coverage_dropout_follows_the_given_noise(tiny_config: EncoderConfig) -> None:
    coverage = Coverage.fit(tiny_config, _cluster(), ratio=1.75)
    dropout = CoverageDropout(coverage, probability=0.3).train()
    feats = torch.rand(400, tiny_config.output_dim) + 0.5
    lonely = torch.full((400,), -1, dtype=torch.int64)
    noise = torch.rand(400, dropout.noise_width, generator=torch.Generator().manual_seed(1))
    out = dropout(feats, lonely, noise)
    masked = out.eq(0).any(dim=1)
    assert torch.equal(masked, noise[:, 0] < 0.3)
    assert torch.equal(torch.cat([dropout(feats[:150], lonely[:150], noise[:150]), out[150:]]), out)


def test_native_lookup_agrees_with_the_tensor_one() -> None:
    config = EncoderConfig.preset("default")
    rng = np.random.default_rng(3)
    train = torch.cat(
        [_cluster(2000), _coords(list(rng.uniform(-90, 90, 500)), list(rng.uniform(-180, 180, 500)))]
    )
    coverage = Coverage.fit(config, train, ratio=2.0)
    probe = torch.cat(
        [
            train,
            _cluster(500, seed=9),
            _coords(list(rng.uniform(-90, 90, 500)), list(rng.uniform(-180, 180, 500))),
        ]
    )
    assert hasattr(native.load("cpu"), "coverage_finest"), "the C++ kernel is built and has the lookup"
    by_tensors = coverage.finest_covered_level(probe)
    by_kernel = coverage.finest_covered_level(probe, use_native=True)
    assert torch.equal(by_tensors, by_kernel)
    assert (by_kernel == config.grids[0].n_levels - 1).sum() >= len(train)
    assert (by_kernel < config.grids[0].n_levels - 1).any()
