"""Earth4DEncoder's input checks and backend selection, the kernel sources, and `encoder-info`."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from earth4d_gis.encoder import (
    Earth4DEncoder,
    EncoderConfig,
    available_backends,
    backends,
    native,
    resolve_backend,
)
from earth4d_gis.errors import InputError

REPO = Path(__file__).resolve().parents[1]
NVCC = shutil.which("nvcc") or ("/usr/local/bin/nvcc" if Path("/usr/local/bin/nvcc").exists() else None)


@pytest.fixture(scope="module")
def encoder() -> Earth4DEncoder:
    return Earth4DEncoder(EncoderConfig.preset("default"), backend="reference")


@pytest.mark.parametrize(
    ("coords", "message"),
    [
        (torch.zeros(3, 3, dtype=torch.float64), r"shape \[N, 4\] \(x, y, z, t\), not \[3, 3\]"),
        (torch.zeros(4, dtype=torch.float64), r"not \[4\]"),
        (torch.zeros(2, 4, dtype=torch.float32), "must be float64, not torch.float32"),
        ([[0.5, 0.5, 0.5, 0.5]], "not list"),
        (torch.tensor([[0.5] * 4, [0.5, 1.5, 0.5, 0.5]], dtype=torch.float64), "y = 1.5 at row 1 is outside"),
        (
            torch.tensor([[0.5] * 4, [0.5] * 4, [0.5, 0.5, 0.5, -0.01]], dtype=torch.float64),
            "t = -0.01 at row 2",
        ),
        (torch.tensor([[float("nan"), 0.5, 0.5, 0.5]], dtype=torch.float64), "x = nan at row 0"),
        (torch.tensor([[0.5, 0.5, float("inf"), 0.5]], dtype=torch.float64), "z = inf at row 0"),
    ],
)
def test_bad_inputs_raise_clear_errors(encoder: Earth4DEncoder, coords: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        encoder(coords)


def test_numpy_and_empty_inputs(encoder: Earth4DEncoder) -> None:
    out = encoder(np.full((2, 4), 0.25))
    dim = encoder.config.output_dim
    assert out.shape == (2, dim) and out.dtype == torch.float32
    assert encoder(torch.empty(0, 4, dtype=torch.float64)).shape == (0, dim)


def test_output_layout_is_grid_major(encoder: Earth4DEncoder) -> None:
    coords = torch.rand(7, 4, dtype=torch.float64)
    out = encoder(coords)
    cfg = encoder.config
    for name, cols in cfg.grid_output_slices().items():
        with torch.no_grad():
            saved = encoder.tables[name].clone()
            encoder.tables[name].zero_()
            zeroed = encoder(coords)
            encoder.tables[name].copy_(saved)
        assert torch.count_nonzero(zeroed[:, cols]) == 0
        others = [i for i in range(cfg.output_dim) if not cols.start <= i < cols.stop]
        assert torch.equal(zeroed[:, others], out[:, others].detach())


def test_backend_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backends.ENV_VAR, raising=False)
    assert resolve_backend(None, "cpu") == "cpu"
    assert resolve_backend("reference", "cpu") == "reference"
    monkeypatch.setenv(backends.ENV_VAR, "reference")
    assert resolve_backend(None, "cpu") == "reference"
    assert Earth4DEncoder(EncoderConfig.preset("default")).backend == "reference"
    assert resolve_backend("cpu", "cpu") == "cpu", "an argument wins over the environment"
    monkeypatch.setenv(backends.ENV_VAR, "gpu-please")
    with pytest.raises(InputError, match="'gpu-please' is not one of auto, reference, cpu, cuda"):
        resolve_backend(None, "cpu")
    with pytest.raises(InputError, match="cuda encoder backend needs tensors on a CUDA device"):
        resolve_backend("cuda", "cpu")


def test_failed_build_falls_back_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(kind: str) -> None:
        raise native.NativeBuildError("build failed: no compiler")

    monkeypatch.setattr(backends, "_instances", {})
    monkeypatch.setattr(backends, "_warned", set())
    monkeypatch.setattr(native, "load", broken)
    monkeypatch.delenv(backends.ENV_VAR, raising=False)
    with pytest.warns(RuntimeWarning, match="cpu backend unavailable .build failed: no compiler.; using"):
        assert resolve_backend(None, "cpu") == "reference"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_backend(None, "cpu") == "reference"
        enc = Earth4DEncoder(EncoderConfig.preset("default"))
    assert enc.backend == "reference"
    assert enc(torch.full((1, 4), 0.5, dtype=torch.float64)).shape == (1, enc.config.output_dim)


def test_available_backends_report_status() -> None:
    status = available_backends()
    assert set(status) == {"reference", "cpu", "cuda"}
    assert status["cpu"].startswith("ok (built, cached at ")
    if not torch.cuda.is_available():
        assert status["cuda"] == "unavailable: no CUDA device"


def test_sources_ship_as_package_data() -> None:
    src = native.source_dir()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["earth4d_gis.csrc"]
    assert pyproject["tool"]["setuptools"]["package-dir"]["earth4d_gis.csrc"] == "csrc"
    for name in {*native.CUDA_SOURCES, *native.HEADERS}:
        assert (src / name).is_file()
        assert any(Path(name).match(g) for g in globs), f"{name} would not be installed"


def test_kernel_sources_are_torch_free() -> None:
    src = native.source_dir()
    for name in (
        "hashgrid_math.h",
        "hashgrid_kernels.h",
        "hashgrid_cpu.cpp",
        "hashgrid_cuda.cu",
        "blend_kernels.h",
        "blend_cpu.cpp",
    ):
        text = (src / name).read_text()
        assert not re.search(r"#include\s*[<\"](torch|ATen|c10)", text), f"{name} includes torch"


@pytest.mark.parametrize("source", ["hashgrid_cpu.cpp", "blend_cpu.cpp"])
def test_cpu_kernel_compiles_without_torch(source: str) -> None:
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("no g++ on this machine")
    src = native.source_dir()
    subprocess.run(
        [gxx, "-std=c++17", "-fopenmp", "-fsyntax-only", "-Wall", "-Werror", str(src / source)],
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(NVCC is None, reason="nvcc not found: cannot compile-check the CUDA kernel")
def test_cuda_kernel_compiles_with_nvcc(tmp_path: Path) -> None:
    src = native.source_dir()
    result = subprocess.run(
        [NVCC, "-c", "-std=c++17", "-O3", str(src / "hashgrid_cuda.cu"), "-o", str(tmp_path / "k.o")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "k.o").stat().st_size > 0


def test_encoder_info_command() -> None:
    from earth4d_gis_cli.main import cli

    result = CliRunner().invoke(cli, ["encoder-info", "--preset", "seed-162d"])
    assert result.exit_code == 0, result.output
    assert "output dimension  162" in result.output
    assert "9.5 cm" in result.output and "3.60 h" in result.output
    cfg = EncoderConfig.preset("seed-162d")
    assert f"{cfg.n_params:,}" in result.output
    bad = CliRunner().invoke(cli, ["encoder-info", "--preset", "nope"])
    assert bad.exit_code != 0 and "'nope' is not one of" in bad.output
