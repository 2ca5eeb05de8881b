"""EncoderConfig: physical targets -> integer resolutions, presets, sizes, serialisation, index function."""

from __future__ import annotations

import json
import math

import pytest
import torch

from earth4d_gis.encoder import EncoderConfig
from earth4d_gis.encoder.config import SPACE_EXTENT_M
from earth4d_gis.encoder.reference import vertex_index
from earth4d_gis.errors import InputError
from earth4d_gis.geodesy import TimeSpan

PRESETS = ("default", "seed-162d")


@pytest.fixture(scope="module", params=PRESETS)
def cfg(request: pytest.FixtureRequest) -> EncoderConfig:
    return EncoderConfig.preset(request.param)


def test_seed_preset_matches_the_original_description() -> None:
    cfg = EncoderConfig.preset("seed-162d")
    assert cfg.output_dim == 162
    xyz = cfg.grid("xyz")
    assert xyz.n_levels == 24 and xyz.table_rows == 2**24
    assert xyz.cell_size(0, 0) == pytest.approx(100e3, rel=0.01)
    assert xyz.cell_size(23, 0) == pytest.approx(0.095, rel=0.01)
    for name in ("xyt", "yzt", "xzt"):
        g = cfg.grid(name)
        assert g.n_levels == 19 and g.table_rows == 2**18
        assert g.cell_size(0, 2) / 24 == pytest.approx(73.0, rel=0.01)
        assert g.cell_size(18, 2) == pytest.approx(3.6, rel=0.01)
        assert g.cell_size(0, 0) == pytest.approx(100e3, rel=0.01)
    expected_params = 2 * sum(
        min(math.prod(n + 1 for n in g.resolutions[lvl]), g.table_rows)
        for g in cfg.grids
        for lvl in range(g.n_levels)
    )
    assert cfg.n_params == expected_params
    assert cfg.n_params > 600_000_000


def test_default_preset_fits_64_mb() -> None:
    cfg = EncoderConfig.preset("default")
    assert cfg.size_mb_fp32 <= 64.0
    assert cfg.n_params * 4 <= 64 * 2**20


def test_resolution_table_reports_true_cell_sizes(cfg: EncoderConfig) -> None:
    rows = cfg.resolution_table()
    assert len(rows) == cfg.n_levels
    span_h = cfg.time_span.seconds / 3600
    for row in rows:
        grid = cfg.grid(row["grid"])
        res = row["resolution"]
        assert row["cell_m"] * res[0] == pytest.approx(SPACE_EXTENT_M)
        if grid.has_time:
            assert row["cell_h"] * res[2] == pytest.approx(span_h)
            assert row["cell_days"] == pytest.approx(row["cell_h"] / 24)
        else:
            assert row["cell_h"] is None
        table_rows = grid.level_table_rows(row["level"])
        dense = math.prod(n + 1 for n in res) <= table_rows
        assert row["storage"] == ("dense" if dense else "hashed")
        assert row["rows"] == (math.prod(n + 1 for n in res) if dense else table_rows)


def test_levels_follow_the_growth_factor(cfg: EncoderConfig) -> None:
    for grid in cfg.grids:
        b = grid.space_growth
        for level in range(grid.n_levels):
            nominal = grid.space_coarse_m / b**level
            assert grid.cell_size(level, 0) == pytest.approx(nominal, rel=0.05)


def test_dict_round_trip_through_json(cfg: EncoderConfig) -> None:
    d = json.loads(json.dumps(cfg.to_dict()))
    assert EncoderConfig.from_dict(d) == cfg


def test_stored_resolutions_win_over_derivation() -> None:
    d = EncoderConfig.preset("default").to_dict()
    d["grids"][0]["resolutions"][0] = [100, 101, 102]
    assert EncoderConfig.from_dict(d).grid("xyz").resolutions[0] == (100, 101, 102)


def test_default_moves_xyz_rows_from_coarse_to_fine_levels() -> None:
    """The coarsest xyz levels (few occupied cells) have 2^14 rows, the three finest 2^17, same total."""
    xyz = EncoderConfig.preset("default").grid("xyz")
    rows = [xyz.level_rows(level) for level in range(xyz.n_levels)]
    assert rows[:4] == [2**14] * 4 and rows[-3:] == [2**17] * 3 and set(rows[4:-3]) == {2**16}
    assert xyz.total_rows == 16 * 2**16
    stored = EncoderConfig.from_dict(json.loads(json.dumps(EncoderConfig.preset("default").to_dict())))
    assert stored.grid("xyz").level_offsets() == xyz.level_offsets()


def test_time_span_changes_time_resolution() -> None:
    short = EncoderConfig.preset("default", TimeSpan("2000-01-01", "2050-01-01"))
    long = EncoderConfig.preset("default")
    assert short.time_span != long.time_span
    assert short.grid("xyt").resolutions[-1][2] < long.grid("xyt").resolutions[-1][2]
    assert short.grid("xyt").cell_size(7, 2) == pytest.approx(long.grid("xyt").cell_size(7, 2), rel=0.02)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("grids"), "incomplete"),
        (lambda d: d["grids"].reverse(), "must be exactly"),
        (lambda d: d.update(features_per_level=3), "features per level 3"),
        (lambda d: d["grids"][0].update(n_levels=0, resolutions=[]), "number of levels 0"),
        (lambda d: d["grids"][1].update(space_fine_m=-1.0), "must be positive"),
        (lambda d: d["grids"][0].update(log2_level_rows=[16] * 3), "per-level log2 table rows"),
        (lambda d: d["grids"][0].update(log2_level_rows=[0] * 16), "per-level log2 table rows"),
    ],
)
def test_bad_config_dicts_raise(mutate, message: str) -> None:  # noqa: ANN001 - a lambda
    d = EncoderConfig.preset("default").to_dict()
    mutate(d)
    with pytest.raises(InputError, match=message):
        EncoderConfig.from_dict(d)


def test_unknown_preset() -> None:
    with pytest.raises(InputError, match="'nope' is not one of default, seed-162d"):
        EncoderConfig.preset("nope")


def test_index_changes_with_every_axis_at_every_level(cfg: EncoderConfig) -> None:
    """The original's uint32 stride overflow made some levels ignore an axis; 64-bit indices must not."""
    gen = torch.Generator().manual_seed(1)
    for grid in cfg.grids:
        for level in range(grid.n_levels):
            res = torch.tensor(grid.resolutions[level], dtype=torch.int64)
            base = (torch.rand(256, 3, generator=gen, dtype=torch.float64) * res).to(torch.int64)
            base = torch.cat([base, (res - 1)[None], torch.zeros(1, 3, dtype=torch.int64)])
            index = vertex_index(grid, level, base)
            assert int(index.min()) >= 0 and int(index.max()) < grid.level_rows(level)
            for axis in range(3):
                moved = base.clone()
                moved[:, axis] += 1
                changed = vertex_index(grid, level, moved) != index
                assert bool(changed.all()), f"{grid.name} level {level}: axis {axis} did not change the index"
