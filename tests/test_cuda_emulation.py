"""The CUDA kernels' own code, run on the CPU: csrc/hashgrid_cuda.cu compiled by g++ against a host
emulation of CUDA (tests/cuda_emulation/cuda_runtime.h: every block and thread of a launch runs serially,
in shuffled order), compared with the ``cpu`` backend.

The kernels use no shared memory, warp intrinsics or synchronisation, so the emulation is exact: indices
and features must be bitwise equal, the coordinate gradient too (same arithmetic in the same order); the
table gradient sums with atomicAdd in the emulated thread order, so it agrees to float rounding. What this
does not cover: the GPU's own code generation (fused multiply-adds) and launch configuration limits, which
only a GPU run checks (scripts/gpu_check.sh).
"""

from __future__ import annotations

import copy
import ctypes
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from earth4d_gis.encoder import EncoderConfig
from earth4d_gis.encoder.backends import get_backend, level_table
from earth4d_gis.encoder.config import GridConfig
from earth4d_gis.encoder.function import HashGridFunction
from earth4d_gis.encoder.native import source_dir
from earth4d_gis.encoder.presets import PRESETS
from earth4d_gis.geodesy import TimeSpan, normalized_coordinates

EMULATION = Path(__file__).resolve().parent / "cuda_emulation"
SPAN = TimeSpan()
_P = ctypes.c_void_p
_I64 = ctypes.c_int64
_INT = ctypes.c_int


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """The emulated CUDA kernels as a shared library (g++, no torch headers: about two seconds)."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("no g++ on this machine")
    library = tmp_path_factory.mktemp("cuda-emulation") / "hashgrid_cuda_emulated.so"
    command = [gxx, "-std=c++17", "-O3", "-shared", "-fPIC", "-Wall", "-Wno-unknown-pragmas", "-Werror"]
    command += [f"-I{EMULATION}", f"-I{source_dir()}", str(EMULATION / "hashgrid_cuda_emulated.cpp")]
    result = subprocess.run([*command, "-o", str(library)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lib = ctypes.CDLL(str(library))
    lib.emulated_forward.argtypes = [_P, _I64, _P, _INT, _INT, _INT, _P, _INT, _P]
    lib.emulated_backward_tables.argtypes = [_P, _I64, _P, _INT, _INT, _INT, _P, _P, _INT]
    lib.emulated_backward_coords.argtypes = [_P, _I64, _P, _INT, _INT, _INT, _P, _INT, _P, _P]
    lib.emulated_indices.argtypes = [_P, _I64, _P, _INT, _P]
    return lib


def _pointers(tensors: list[torch.Tensor]) -> ctypes.Array:
    return (ctypes.c_void_p * len(tensors))(*(t.data_ptr() for t in tensors))


class EmulatedCudaBackend:
    """The CUDA kernels on host memory, behind the same interface as the package's backends; it allocates
    its outputs as bindings.cpp's CUDA path does (zeroed table gradients, which the atomics add into)."""

    name = "cuda-emulated"

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib

    @staticmethod
    def _common(config: EncoderConfig, coords: torch.Tensor) -> tuple:
        levels = level_table(config, "cpu")
        head = (coords.data_ptr(), coords.shape[0], levels.data_ptr(), levels.shape[0])
        return head, levels

    def forward(
        self, config: EncoderConfig, coords: torch.Tensor, tables: list[torch.Tensor]
    ) -> torch.Tensor:
        head, _ = self._common(config, coords)
        out = torch.empty(coords.shape[0], config.output_dim, dtype=torch.float32)
        f = config.features_per_level
        self.lib.emulated_forward(*head, f, config.smoothstep, _pointers(tables), len(tables), out.data_ptr())
        return out

    def backward(
        self,
        config: EncoderConfig,
        coords: torch.Tensor,
        tables: list[torch.Tensor],
        grad_out: torch.Tensor,
        need_coords_grad: bool,
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        head, _ = self._common(config, coords)
        grad_out = grad_out.to(torch.float32).contiguous()
        f, smooth = config.features_per_level, config.smoothstep
        grads = [torch.zeros_like(t) for t in tables]
        self.lib.emulated_backward_tables(*head, f, smooth, grad_out.data_ptr(), _pointers(grads), len(grads))
        grad_coords = None
        if need_coords_grad:
            grad_coords = torch.zeros_like(coords)
            self.lib.emulated_backward_coords(
                *head, f, smooth, _pointers(tables), len(tables), grad_out.data_ptr(), grad_coords.data_ptr()
            )
        return grads, grad_coords

    def indices(self, config: EncoderConfig, coords: torch.Tensor) -> torch.Tensor:
        head, levels = self._common(config, coords)
        out = torch.empty(coords.shape[0], levels.shape[0], 8, dtype=torch.int64)
        self.lib.emulated_indices(*head, out.data_ptr())
        return out


def _smoothstep_spec(features: int) -> dict:
    """Smoothstep weights, few features, dense and hashed levels in every grid."""
    st = {"n_levels": 4, "log2_table_rows": 12, "space_coarse_m": 2000e3, "space_fine_m": 100e3}
    st |= {"time_coarse_h": 24 * 365.25 * 50, "time_fine_h": 24 * 365.25 * 2}
    xyz = {"name": "xyz", "n_levels": 6, "log2_table_rows": 13}
    xyz |= {"space_coarse_m": 1500e3, "space_fine_m": 500.0}
    grids = [xyz, *({"name": n, **st} for n in ("xyt", "yzt", "xzt"))]
    return {"features_per_level": features, "smoothstep": True, "grids": grids}


def _seed_small_tables() -> dict:
    """The seed preset's 81 levels and resolutions (down to 9.5 cm and 3.6 h) with 2^12-row tables."""
    spec = copy.deepcopy(PRESETS["seed-162d"])
    for grid in spec["grids"]:
        grid["log2_table_rows"] = 12
    return spec


CONFIGS = {
    "default": lambda: EncoderConfig.preset("default"),
    "smoothstep-1-feature": lambda: EncoderConfig.from_spec("smooth1", _smoothstep_spec(1), SPAN),
    "smoothstep-4-features": lambda: EncoderConfig.from_spec("smooth4", _smoothstep_spec(4), SPAN),
    "seed-162d-small-tables": lambda: EncoderConfig.from_spec("seed-small", _seed_small_tables(), SPAN),
}


def _boundary_points(grid: GridConfig, level: int, rng: np.random.Generator) -> np.ndarray:
    """Points whose three grid coordinates lie on a cell boundary of ``level``, and one ulp either side."""
    res = np.array(grid.resolutions[level], dtype=np.float64)
    cells = np.floor(rng.uniform(0, 1, (3, 3)) * (res + 1))
    on = cells / res
    rows = []
    for toward in (None, -np.inf, np.inf):
        pos = on if toward is None else np.nextafter(on, toward)
        point = rng.uniform(0, 1, (3, 4))
        point[:, list(grid.axes)] = np.clip(pos, 0.0, 1.0)
        rows.append(point)
    return np.concatenate(rows)


def _points(cfg: EncoderConfig) -> torch.Tensor:
    """Random places and dates, the poles, longitude +-180, the span's first and last instant, the unit
    cube's corners, and boundary points at every level of every grid."""
    rng = np.random.default_rng(162)
    n = 200
    lat, lon = rng.uniform(-90, 90, n), rng.uniform(-180, 180, n)
    elev, t = rng.uniform(-500, 9000, n), rng.uniform(0, 1, n)
    random_geo = normalized_coordinates(lat, lon, elev, SPAN.from_unit(t), SPAN)
    special_lat = [90.0, -90.0, 0.0, 0.0, 45.0, -45.0]
    special_lon = [0.0, 0.0, 180.0, -180.0, 180.0, -180.0]
    special = normalized_coordinates(
        special_lat, special_lon, [0.0] * 6, SPAN.from_unit(np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])), SPAN
    )
    corners = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1], [1, 0, 1, 0]], dtype=np.float64)
    boundaries = [_boundary_points(grid, level, rng) for grid in cfg.grids for level in range(grid.n_levels)]
    points = np.concatenate([random_geo, special, corners, *boundaries])
    assert points.min() >= 0.0 and points.max() <= 1.0
    return torch.from_numpy(points)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_emulated_cuda_kernels_match_the_cpu_backend(emulated: ctypes.CDLL, name: str) -> None:
    cfg = CONFIGS[name]()
    cpu, cuda = get_backend("cpu"), EmulatedCudaBackend(emulated)
    gen = torch.Generator().manual_seed(len(name))
    tables = [torch.randn(g.total_rows, cfg.features_per_level, generator=gen) for g in cfg.grids]
    coords = _points(cfg)
    start = time.perf_counter()

    assert torch.equal(cuda.indices(cfg, coords), cpu.indices(cfg, coords)), "corner rows differ"

    def run(backend: object) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        x = coords.clone().requires_grad_(True)
        params = [t.clone().requires_grad_(True) for t in tables]
        out = HashGridFunction.apply(cfg, backend, x, *params)
        weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(5))
        (out * weight).sum().backward()
        return out.detach(), x.grad, [p.grad for p in params]

    out_cuda, gx_cuda, gt_cuda = run(cuda)
    out_cpu, gx_cpu, gt_cpu = run(cpu)
    seconds = time.perf_counter() - start
    assert torch.equal(out_cuda, out_cpu), "features differ"
    assert torch.equal(gx_cuda, gx_cpu), "coordinate gradients differ"
    for grid, a, b in zip(cfg.grids, gt_cuda, gt_cpu, strict=True):
        scale = float(b.abs().max())
        assert scale > 0, f"{grid.name}: no table gradient at all"
        assert float((a - b).abs().max()) <= 2e-6 * scale, f"{grid.name} table gradients differ"
    assert seconds < 30, f"the emulated comparison took {seconds:.1f} s"


def test_emulation_runs_threads_out_of_order(emulated: ctypes.CDLL) -> None:
    """The shuffled launch order is real: the atomics' summation order differs from the CPU's sequential
    one, so a table row shared by many points gets a (slightly) different float sum, as on a GPU."""
    cfg = EncoderConfig.from_spec("smooth1", _smoothstep_spec(1), SPAN)
    coords = torch.rand(20000, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    grad_out = torch.randn(coords.shape[0], cfg.output_dim, generator=torch.Generator().manual_seed(2))
    tables = [torch.zeros(g.total_rows, 1) for g in cfg.grids]
    emulated_grads, _ = EmulatedCudaBackend(emulated).backward(cfg, coords, tables, grad_out, False)
    cpu_grads, _ = get_backend("cpu").backward(cfg, coords, tables, grad_out, False)
    assert not all(torch.equal(a, b) for a, b in zip(emulated_grads, cpu_grads, strict=True))
