"""The backends agree (indices exactly, values and gradients to float tolerance), gradients are right,
and the finest level really resolves its nominal cell."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from earth4d_gis.encoder import Earth4DEncoder, EncoderConfig, resolve_backend
from earth4d_gis.encoder.backends import get_backend
from earth4d_gis.encoder.function import HashGridFunction
from earth4d_gis.encoder.presets import PRESETS
from earth4d_gis.encoder.reference import cell_and_fraction
from earth4d_gis.geodesy import TimeSpan, normalized_coordinates

SPAN = TimeSpan()


def _spec(base: str, log2_rows: int | None = None) -> dict:
    spec = copy.deepcopy(PRESETS[base])
    if log2_rows is not None:
        for g in spec["grids"]:
            g["log2_table_rows"] = min(g["log2_table_rows"], log2_rows)
    return spec


def _mixed_spec() -> dict:
    """Small tables with dense and hashed levels in every grid, and smoothstep weights."""
    st = {"n_levels": 4, "log2_table_rows": 12, "space_coarse_m": 2000e3, "space_fine_m": 100e3}
    st |= {"time_coarse_h": 24 * 365.25 * 50, "time_fine_h": 24 * 365.25 * 2}
    return {
        "features_per_level": 4,
        "smoothstep": True,
        "grids": [
            {
                "name": "xyz",
                "n_levels": 5,
                "log2_table_rows": 13,
                "space_coarse_m": 1500e3,
                "space_fine_m": 1e3,
            },
            *({"name": n, **st} for n in ("xyt", "yzt", "xzt")),
        ],
    }


def _per_level_rows_spec() -> dict:
    """The mixed grids with xyz tables sized per level (dense, small and large hashed levels)."""
    spec = _mixed_spec()
    spec["grids"][0] = {**spec["grids"][0], "log2_level_rows": [13, 9, 14, 11, 15]}
    return spec


CONFIGS = {
    "default": EncoderConfig.preset("default"),
    "per-level-rows": EncoderConfig.from_spec("per-level", _per_level_rows_spec(), SPAN),
    "seed-resolutions": EncoderConfig.from_spec("seed-small-tables", _spec("seed-162d", 12), SPAN),
    "mixed-smoothstep": EncoderConfig.from_spec("mixed", _mixed_spec(), SPAN),
}


def _native_backends() -> list:
    out = [pytest.param("cpu", id="cpu")]
    reason = "no CUDA device: the cuda backend's agreement tests need a GPU"
    out.append(
        pytest.param(
            "cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=reason)
        )
    )
    return out


def _edge_points(cfg: EncoderConfig) -> torch.Tensor:
    lat = [90.0, -90.0, 0.0, 0.0, 45.0, -33.9, 10.0, 27.98, -0.1]
    lon = [0.0, 0.0, 180.0, -180.0, 540.0, -190.0, 359.9, 86.92, 0.0]
    elev = [0.0, -500.0, 9000.0, -500.0, 9000.0, 0.0, 100.0, 8848.0, 0.0]
    dates = [
        "1900-01-01",
        "2100-01-01",
        "2000-06-15",
        "1900-01-01",
        "2100-01-01",
        "2024-01-01",
        "1950",
        "2017",
        "2099",
    ]
    geo = normalized_coordinates(lat, lon, elev, dates, SPAN)
    rows = [geo, np.array([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]], dtype=np.float64)]
    rng = np.random.default_rng(3)
    for grid in cfg.grids:
        for level in range(grid.n_levels):
            res = np.array(grid.resolutions[level], dtype=np.float64)
            k = np.floor(rng.uniform(0, 1, (4, 3)) * (res + 1))
            on_boundary = rng.uniform(0, 1, (4, 4))
            on_boundary[:, list(grid.axes)] = k / res
            rows.append(on_boundary)
    return torch.from_numpy(np.concatenate(rows))


def _inputs(cfg: EncoderConfig) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    lat = torch.rand(256, generator=gen, dtype=torch.float64) * 180 - 90
    lon = torch.rand(256, generator=gen, dtype=torch.float64) * 720 - 360
    elev = torch.rand(256, generator=gen, dtype=torch.float64) * 9500 - 500
    t = torch.rand(256, generator=gen, dtype=torch.float64)
    geo = normalized_coordinates(lat.numpy(), lon.numpy(), elev.numpy(), SPAN.from_unit(t.numpy()), SPAN)
    uniform = torch.rand(128, 4, generator=gen, dtype=torch.float64)
    return torch.cat([torch.from_numpy(geo), uniform, _edge_points(cfg)])


def _pair(cfg: EncoderConfig, backend: str) -> tuple[Earth4DEncoder, Earth4DEncoder]:
    if resolve_backend(backend, backend) != backend:
        pytest.fail(f"the {backend} backend did not build")
    device = "cuda" if backend == "cuda" else "cpu"
    ref = Earth4DEncoder(cfg, backend="reference")
    with torch.no_grad():
        for table in ref.tables.values():
            table.normal_(generator=torch.Generator().manual_seed(table.numel()))
    native = Earth4DEncoder(cfg, backend=backend, device=device)
    native.load_state_dict(ref.state_dict())
    return ref, native


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(
        (a.detach().double() - b.detach().double().cpu()).abs().max()
        / a.detach().double().abs().max().clamp_min(1e-30)
    )


@pytest.mark.parametrize("backend", _native_backends())
@pytest.mark.parametrize("name", list(CONFIGS))
def test_backends_agree(name: str, backend: str) -> None:
    cfg = CONFIGS[name]
    ref, native = _pair(cfg, backend)
    coords = _inputs(cfg)
    device_coords = coords.to(native.device)

    ref_idx, nat_idx = ref.indices(coords), native.indices(device_coords)
    for grid in cfg.grids:
        assert torch.equal(ref_idx[grid.name], nat_idx[grid.name].cpu()), f"{grid.name} indices differ"

    x_ref = coords.clone().requires_grad_(True)
    x_nat = device_coords.clone().requires_grad_(True)
    out_ref, out_nat = ref(x_ref), native(x_nat)
    assert out_nat.dtype == torch.float32 and out_nat.shape == (coords.shape[0], cfg.output_dim)
    assert _rel(out_ref, out_nat) < 1e-5

    weight = torch.randn(out_ref.shape, generator=torch.Generator().manual_seed(5))
    (out_ref * weight).sum().backward()
    (out_nat * weight.to(out_nat.device)).sum().backward()
    for grid in cfg.grids:
        g_ref, g_nat = ref.tables[grid.name].grad, native.tables[grid.name].grad
        assert _rel(g_ref, g_nat) < 1e-4, f"{grid.name} table gradients differ"
    assert _rel(x_ref.grad, x_nat.grad) < 1e-4


def _tiny_config(smoothstep: bool) -> EncoderConfig:
    """Two coarse levels per grid and 64-row tables, so that gradcheck can perturb every entry."""
    st = {"n_levels": 2, "log2_table_rows": 6, "space_coarse_m": 4000e3, "space_fine_m": 1000e3}
    st |= {"time_coarse_h": 24 * 365.25 * 100, "time_fine_h": 24 * 365.25 * 20}
    spec = {
        "features_per_level": 2,
        "smoothstep": smoothstep,
        "grids": [
            {
                "name": "xyz",
                "n_levels": 2,
                "log2_table_rows": 6,
                "space_coarse_m": 6400e3,
                "space_fine_m": 2000e3,
            },
            *({"name": n, **st} for n in ("xyt", "yzt", "xzt")),
        ],
    }
    return EncoderConfig.from_spec("tiny", spec, SPAN)


@pytest.mark.parametrize("smoothstep", [False, True])
def test_reference_gradcheck_float64(smoothstep: bool) -> None:
    cfg = _tiny_config(smoothstep)
    assert any(g.level_is_dense(0) for g in cfg.grids) and not all(g.level_is_dense(1) for g in cfg.grids)
    backend = get_backend("reference")
    gen = torch.Generator().manual_seed(7)
    tables = [
        torch.randn(g.total_rows, 2, dtype=torch.float64, generator=gen, requires_grad=True)
        for g in cfg.grids
    ]
    coords = torch.rand(5, 4, dtype=torch.float64, generator=gen) * 0.8 + 0.1
    coords.requires_grad_(True)

    def encode(x: torch.Tensor, *t: torch.Tensor) -> torch.Tensor:
        return HashGridFunction.apply(cfg, backend, x, *t)

    assert torch.autograd.gradcheck(encode, (coords, *tables), eps=1e-7, atol=1e-6)


def _finest_config() -> EncoderConfig:
    """The seed preset's finest spatial level (9.5 cm) with small tables."""
    spec = _mixed_spec()
    spec["smoothstep"] = False
    spec["grids"][0] = {
        "name": "xyz",
        "n_levels": 2,
        "log2_table_rows": 16,
        "space_coarse_m": PRESETS["seed-162d"]["grids"][0]["space_coarse_m"],
        "space_fine_m": PRESETS["seed-162d"]["grids"][0]["space_fine_m"],
    }
    return EncoderConfig.from_spec("finest", spec, SPAN)


@pytest.mark.parametrize("backend", ["reference", *_native_backends()])
def test_finest_level_resolves_its_cell(backend: str) -> None:
    cfg = _finest_config()
    xyz = cfg.grid("xyz")
    finest = xyz.n_levels - 1
    n = xyz.resolutions[finest][0]
    assert 12.8e6 / n == pytest.approx(0.095, rel=0.01)

    base = normalized_coordinates(47.3769, 8.5417, 408.0, "2021-06-01", SPAN)[0]
    shifted = base.copy()
    shifted[0] += 1.0 / n  # one finest cell (9.5 cm) along x
    coords = torch.from_numpy(np.stack([base, shifted]))

    cell, _, _ = cell_and_fraction(xyz, finest, coords)
    assert cell[1, 0] - cell[0, 0] == 1 and torch.equal(cell[1, 1:], cell[0, 1:])

    device = "cuda" if backend == "cuda" else "cpu"
    enc = Earth4DEncoder(cfg, backend=backend, device=device)
    with torch.no_grad():
        enc.tables["xyz"].normal_()
    idx = enc.indices(coords.to(device))["xyz"][:, finest].cpu()
    assert not torch.equal(idx[0], idx[1])
    feats = enc(coords.to(device)).detach().cpu()
    cols = slice(finest * cfg.features_per_level, (finest + 1) * cfg.features_per_level)
    assert (feats[0, cols] - feats[1, cols]).abs().max() > 1e-3


@pytest.mark.parametrize("backend", _native_backends())
def test_odd_and_tiny_batches_agree(backend: str) -> None:
    """Every thread's share of points, however small or odd, is encoded correctly."""
    cfg = CONFIGS["mixed-smoothstep"]
    ref, native = _pair(cfg, backend)
    coords = torch.rand(13, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    for n in (1, 2, 3, 5, 13):
        x_ref = coords[:n].clone().requires_grad_(True)
        x_nat = coords[:n].to(native.device).requires_grad_(True)
        out_ref, out_nat = ref(x_ref), native(x_nat)
        assert _rel(out_ref, out_nat) < 1e-5
        out_ref.sum().backward()
        out_nat.sum().backward()
        assert _rel(x_ref.grad, x_nat.grad) < 1e-4
    for grid in cfg.grids:
        assert _rel(ref.tables[grid.name].grad, native.tables[grid.name].grad) < 1e-4


def test_cpu_reuses_freed_buffers_without_stale_values() -> None:
    """The cpu backend hands freed outputs and gradients out again (no page faults in a training loop);
    a recycled buffer full of NaN must still give exactly the fresh results."""
    cfg = CONFIGS["mixed-smoothstep"]
    _, native = _pair(cfg, "cpu")
    coords = _inputs(cfg)
    weight = torch.randn(coords.shape[0], cfg.output_dim, generator=torch.Generator().manual_seed(2))

    def step() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        for table in native.tables.values():
            table.grad = None
        out = native(coords)
        (out * weight).sum().backward()
        return out, {name: table.grad for name, table in native.tables.items()}

    out, grads = step()
    first_out, first_grads = out.detach().clone(), {k: g.clone() for k, g in grads.items()}
    pointers = {out.data_ptr(), *(g.data_ptr() for g in grads.values())}
    out.detach().fill_(float("nan"))
    for name in grads:
        grads[name].fill_(float("nan"))
    del out, grads
    out, grads = step()
    assert {out.data_ptr(), *(g.data_ptr() for g in grads.values())} == pointers
    assert torch.equal(out.detach(), first_out)
    for name, g in grads.items():
        assert torch.equal(g, first_grads[name]), name


def test_release_host_buffers_frees_the_cpu_pool() -> None:
    """Freed outputs wait in the pool; releasing it frees them (training does so at its end)."""
    from earth4d_gis.encoder import native as native_kernels

    cfg = CONFIGS["mixed-smoothstep"]
    _, native = _pair(cfg, "cpu")
    out = native(_inputs(cfg))
    out_bytes = out.numel() * out.element_size()
    del out
    assert native_kernels.release_host_buffers() >= out_bytes
    assert native_kernels.release_host_buffers() == 0
