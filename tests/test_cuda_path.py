"""The CUDA path as far as a machine without a GPU can check it: the CUDA build's flags and toolkit
check, an explicit ``cuda`` backend (refused for the right reason), failed builds that do not hide, and a
pickled model that follows its backend's device. The kernels themselves: test_cuda_emulation.py."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import earth4d_gis
from earth4d_gis import predictor
from earth4d_gis.checkpoint import ModelBundle, save_model_file
from earth4d_gis.encoder import Earth4DEncoder, EncoderConfig, backends, native
from earth4d_gis.encoder.backends import BackendUnavailableError, implied_backend, resolve_backend
from earth4d_gis.errors import Earth4DError
from earth4d_gis.model import Earth4DModel

NO_GPU = not torch.cuda.is_available()
needs_no_gpu = pytest.mark.skipif(not NO_GPU, reason="checks the errors of a machine without a GPU")


def test_cuda_build_compiles_the_bindings_with_cuda_support() -> None:
    """bindings.cpp is compiled by the C++ compiler: the define must be in its flags, not only nvcc's."""
    args = native.build_arguments("cuda")
    assert any(Path(s).name == "bindings.cpp" for s in args["sources"])
    assert any(Path(s).name == "hashgrid_cuda.cu" for s in args["sources"])
    assert native.CUDA_DEFINE == "-DEARTH4D_WITH_CUDA"
    assert native.CUDA_DEFINE in args["extra_cflags"]
    assert native.CUDA_DEFINE in args["extra_cuda_cflags"]
    assert args["with_cuda"] is True
    cpu = native.build_arguments("cpu")
    assert native.CUDA_DEFINE not in cpu["extra_cflags"] and "hashgrid_cuda.cu" not in str(cpu["sources"])
    assert cpu["name"] != args["name"]


def test_bindings_check_every_kernel_launch_and_the_gradient_device() -> None:
    text = (native.source_dir() / "bindings.cpp").read_text()
    launches = text.count("_cuda(a, ")
    assert launches == 4
    assert text.count("C10_CUDA_KERNEL_LAUNCH_CHECK();") == launches
    assert "grad_out.device() == coords.device()" in text


@pytest.mark.parametrize(
    ("torch_cuda", "nvcc_release", "message"),
    [
        ("12.8", "13.0", r"nvcc is CUDA 13.0 but torch .* was built with CUDA 12.8: install a CUDA 12.x"),
        (None, "13.0", "is a CPU-only build; the cuda backend needs a CUDA build of torch"),
    ],
)
def test_toolkit_must_match_torchs_cuda(torch_cuda: str | None, nvcc_release: str, message: str) -> None:
    with pytest.raises(native.NativeBuildError, match=message):
        native.check_toolkit(torch_cuda, "/opt/cuda/bin/nvcc", nvcc_release)
    native.check_toolkit("13.0", "/opt/cuda/bin/nvcc", "13.2")  # same major version: fine


def test_nvcc_version_is_read_from_the_toolkit(tmp_path: Path) -> None:
    nvcc = tmp_path / "bin" / "nvcc"
    nvcc.parent.mkdir()
    nvcc.write_text("#!/bin/sh\necho 'Cuda compilation tools, release 12.4, V12.4.131'\n")
    nvcc.chmod(0o755)
    with pytest.raises(native.NativeBuildError, match="has no include/cuda_runtime.h"):
        native.nvcc_version(str(tmp_path))
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "cuda_runtime.h").touch()
    assert native.nvcc_version(str(tmp_path)) == (str(nvcc), "12.4")
    with pytest.raises(native.NativeBuildError, match="nvcc not found"):
        native.nvcc_version(str(tmp_path / "nowhere"))


def test_info_reports_torchs_cuda_and_the_toolkit() -> None:
    from earth4d_gis_cli.main import cli

    result = CliRunner().invoke(cli, ["info"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert f"(CUDA {torch.version.cuda or 'none: a CPU-only build'})" in lines["torch"]
    assert "nvcc" in lines["toolkit"] or "CUDA_HOME" in lines["toolkit"]
    assert "cuda" in lines


@pytest.mark.skipif(torch.version.cuda is not None, reason="checks a CPU-only torch")
def test_cuda_build_with_cpu_torch_names_the_problem() -> None:
    with pytest.raises(native.NativeBuildError, match="CPU-only build"):
        native._build("cuda")


@needs_no_gpu
def test_explicit_cuda_backend_fails_for_want_of_a_gpu_not_for_cpu_tables(
    tiny_config: EncoderConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model builds its tables on the CPU and moves later: that is no reason to refuse ``cuda``."""
    monkeypatch.delenv(backends.ENV_VAR, raising=False)
    expected = r"^the cuda encoder backend is unavailable: no CUDA device$"
    with pytest.raises(BackendUnavailableError, match=expected):
        Earth4DModel(tiny_config, backend="cuda")
    monkeypatch.setenv(backends.ENV_VAR, "cuda")
    with pytest.raises(BackendUnavailableError, match="no CUDA device"):
        Earth4DEncoder(tiny_config)


@needs_no_gpu
def test_load_model_with_cuda_backend_without_gpu(make_model_file) -> None:
    path = make_model_file("cuda-path.pt")
    with pytest.raises(BackendUnavailableError, match="no CUDA device"):
        earth4d_gis.load_model(path, device="cpu", backend="cuda")


@needs_no_gpu
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "cuda"], "Error: the cuda encoder backend is unavailable: no CUDA device"),
        (
            ["--device", "cuda"],
            "Error: --device cuda was asked for but torch sees no GPU (use --device cpu or --device auto)",
        ),
    ],
)
def test_train_with_cuda_without_gpu_is_a_one_line_error(
    tmp_path: Path, args: list[str], message: str
) -> None:
    from earth4d_gis_cli.main import cli

    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["train", "--dataset", "demo", "--max-samples", "200", "--output-dir", str(out), *args]
    )
    assert result.exit_code != 0
    assert result.output.strip() == message
    assert not out.exists()


def test_device_cuda_asks_for_the_cuda_backend_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backends.ENV_VAR, raising=False)
    assert implied_backend(None, "cuda") == "cuda"
    assert implied_backend(None, "auto") is None and implied_backend(None, "cpu") is None
    assert implied_backend("reference", "cuda") == "reference"
    monkeypatch.setenv(backends.ENV_VAR, "reference")
    assert implied_backend(None, "cuda") == "reference"


def _broken_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(kind: str) -> None:
        raise native.NativeBuildError("build failed: no compiler")

    monkeypatch.setattr(backends, "_instances", {})
    monkeypatch.setattr(backends, "_warned", set())
    monkeypatch.setattr(backends, "_fallbacks", {})
    monkeypatch.setattr(native, "load", broken)
    monkeypatch.delenv(backends.ENV_VAR, raising=False)


def test_a_failed_build_of_a_named_backend_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tiny_config: EncoderConfig
) -> None:
    _broken_build(monkeypatch)
    with pytest.raises(BackendUnavailableError, match="cpu encoder backend is unavailable: build failed: no"):
        resolve_backend("cpu", "cpu")
    with pytest.raises(Earth4DError, match="build failed: no compiler"):
        Earth4DModel(tiny_config, backend="cpu")


def test_automatic_fallback_says_why(monkeypatch: pytest.MonkeyPatch, tiny_config: EncoderConfig) -> None:
    _broken_build(monkeypatch)
    with pytest.warns(RuntimeWarning, match="cpu backend unavailable .build failed: no compiler.; using"):
        enc = Earth4DEncoder(tiny_config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert enc.backend == "reference"
        assert enc.backend_fallback == "build failed: no compiler"
    assert Earth4DEncoder(tiny_config, backend="reference").backend_fallback is None


def test_cpu_backend_model_unpickled_where_a_gpu_is_the_default(
    make_model_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker process on a GPU machine loads a model pickled with backend ``cpu`` onto the CPU, where
    that backend runs (not onto the GPU, where it would be refused at the first prediction)."""
    monkeypatch.delenv(backends.ENV_VAR, raising=False)
    path = make_model_file("cuda-path-pickle.pt")
    model = earth4d_gis.load_model(path, device="cpu", backend="cpu")
    expected = model.predict([1.0], [2.0], 0.0, "2024")
    payload = pickle.dumps(model)
    monkeypatch.setattr(predictor, "default_device", lambda: "cuda")
    clone = pickle.loads(payload)
    assert clone.device.type == "cpu" and clone.model.encoder.backend == "cpu"
    assert np.array_equal(clone.predict([1.0], [2.0], 0.0, "2024"), expected)
    assert backends.device_for_backend("cuda", "cpu") == "cuda"
    assert backends.device_for_backend(None, "cuda") == "cuda"


@pytest.mark.slow  # trains
def test_training_says_when_the_automatic_backend_fell_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from encoder_specs import small_spec

    from earth4d_gis.data import make_demo_dataset
    from earth4d_gis.train import TrainConfig, train

    _broken_build(monkeypatch)
    config = TrainConfig(
        output_dir=tmp_path / "run",
        encoder_spec=small_spec((4, 10, 2e5, 5e3), (2, 8, 1e6, 2e5)),
        epochs=1,
        batch_size=200,
        hidden=(16,),
        device="cpu",
        prediction_samples=0,
        visualize_every=0,
        make_video=False,
        progress=False,
    )
    samples = make_demo_dataset(600, seed=3)
    with caplog.at_level("WARNING"), pytest.warns(RuntimeWarning, match="cpu backend unavailable"):
        result = train(config, samples)
    assert result.metrics["encoder_backend"] == "reference"
    assert result.metrics["encoder_backend_fallback"] == "build failed: no compiler"
    assert result.metrics["amp_dtype"] is None
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["encoder_backend_fallback"] == "build failed: no compiler"
    logged = [r.getMessage() for r in caplog.records]
    assert any("cpu backend unavailable (build failed: no compiler)" in m for m in logged)


@pytest.mark.skipif(NO_GPU, reason="runs the cuda backend")
def test_explicit_cuda_backend_runs_on_a_gpu(tmp_path: Path, tiny_config: EncoderConfig) -> None:
    from earth4d_gis.encoder.backends import get_backend

    model = Earth4DModel(tiny_config, hidden=(8,), backend="cuda").to("cuda")
    coords = torch.rand(100, 4, dtype=torch.float64, device="cuda")
    assert model(coords).shape == (100, 64) and model.encoder.backend == "cuda"
    path = save_model_file(ModelBundle(model=model.cpu()), tmp_path / "m.pt")
    loaded = earth4d_gis.load_model(path, backend="cuda")
    assert loaded.device.type == "cuda" and loaded.model.encoder.backend == "cuda"
    assert np.isfinite(loaded.predict([1.0], [2.0], 0.0, "2024")).all()
    enc = loaded.model.encoder
    tables = [enc.tables[g.name].detach() for g in tiny_config.grids]
    grad_out = torch.ones(100, tiny_config.output_dim)  # on the CPU
    with pytest.raises(RuntimeError, match="grad_out is on cpu but coords are on cuda"):
        get_backend("cuda").backward(tiny_config, coords, tables, grad_out, False)
