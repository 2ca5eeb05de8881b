"""Building and loading the native kernels (C++/OpenMP and CUDA) with ``torch.utils.cpp_extension``.

The sources ship as package data (``earth4d_gis/csrc`` in an installed copy, ``<repo>/csrc`` in a
checkout). They are compiled with ninja on first use and cached by torch (``TORCH_EXTENSIONS_DIR``,
by default ``~/.cache/torch_extensions``); a changed source is rebuilt automatically.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import earth4d_gis

logger = logging.getLogger(__name__)

_MATH_HEADER = "hashgrid_math.h"
CPU_SOURCES = ("bindings.cpp", "hashgrid_cpu.cpp", "blend_cpu.cpp")
HEADERS = ("hashgrid_math.h", "hashgrid_kernels.h", "host_buffer_pool.h", "blend_kernels.h")
CUDA_SOURCES = ("bindings.cpp", "hashgrid_cpu.cpp", "blend_cpu.cpp", "hashgrid_cuda.cu")
CUDA_DEFINE = "-DEARTH4D_WITH_CUDA"

_lock = threading.Lock()
_modules: dict[str, ModuleType] = {}
_errors: dict[str, str] = {}


class NativeBuildError(RuntimeError):
    """A native backend could not be compiled or loaded."""


def source_dir() -> Path:
    """The folder holding the C++/CUDA sources: the installed package data, else the checkout's ``csrc``."""
    package = Path(earth4d_gis.__file__).resolve().parent
    for candidate in (package / "csrc", package.parent / "csrc"):
        if (candidate / _MATH_HEADER).is_file():
            return candidate
    raise NativeBuildError(
        f"kernel sources not found (looked in {package / 'csrc'} and {package.parent / 'csrc'})"
    )


def _sources_digest(src: Path) -> str:
    """Short hash of every kernel file, so any change (headers included) gets a fresh build."""
    digest = hashlib.sha256()
    for name in sorted({*CUDA_SOURCES, *HEADERS}):
        digest.update((src / name).read_bytes())
    return digest.hexdigest()[:10]


def build_arguments(kind: str, src: Path | None = None) -> dict[str, Any]:
    """The keyword arguments for ``torch.utils.cpp_extension.load`` that build ``kind`` ("cpu" or "cuda").

    The CUDA build compiles ``bindings.cpp`` with the C++ compiler, so ``EARTH4D_WITH_CUDA`` must be in
    the C++ flags as well as nvcc's: without it the bindings' CUDA branches compile to "no CUDA support".
    """
    src = src or source_dir()
    name = f"earth4d_hashgrid_{kind}_{_sources_digest(src)}"
    common: dict[str, Any] = {
        "name": name,
        "extra_include_paths": [str(src)],
        "extra_ldflags": ["-fopenmp"],
        "verbose": False,
    }
    if kind == "cpu":
        return {**common, "sources": [str(src / s) for s in CPU_SOURCES], "extra_cflags": ["-O3", "-fopenmp"]}
    if kind == "cuda":
        return {
            **common,
            "sources": [str(src / s) for s in CUDA_SOURCES],
            "extra_cflags": ["-O3", "-fopenmp", CUDA_DEFINE],
            "extra_cuda_cflags": ["-O3", CUDA_DEFINE],
            "with_cuda": True,
        }
    raise ValueError(f"unknown native kernel kind {kind!r}")


def nvcc_version(cuda_home: str | None = None) -> tuple[str, str]:
    """The path of the nvcc the CUDA build will use and its release ("13.0"); ``NativeBuildError`` if none.

    torch builds with ``$CUDA_HOME/bin/nvcc`` (CUDA_HOME, else the nvcc on PATH, else /usr/local/cuda).
    """
    if cuda_home is None:
        from torch.utils import cpp_extension

        cuda_home = cpp_extension.CUDA_HOME
    nvcc = str(Path(cuda_home) / "bin" / "nvcc") if cuda_home else shutil.which("nvcc")
    if not nvcc or not Path(nvcc).is_file():
        raise NativeBuildError("nvcc not found (set CUDA_HOME to a CUDA toolkit, or put its nvcc on PATH)")
    if cuda_home and not (Path(cuda_home) / "include" / "cuda_runtime.h").is_file():
        raise NativeBuildError(
            f"CUDA_HOME {cuda_home} has no include/cuda_runtime.h (an nvcc wrapper on PATH?): "
            "set CUDA_HOME to the CUDA toolkit's own folder"
        )
    try:
        text = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise NativeBuildError(f"{nvcc} --version failed ({exc})") from None
    match = re.search(r"release (\d+)\.(\d+)", text)
    if match is None:
        raise NativeBuildError(f"cannot read the CUDA version from {nvcc} --version")
    return nvcc, f"{match.group(1)}.{match.group(2)}"


def check_toolkit(torch_cuda: str | None, nvcc: str, nvcc_release: str) -> None:
    """Refuse a CUDA build that torch's ``load`` would attempt with the wrong toolkit.

    An extension must be compiled by a toolkit of the CUDA major version torch was built with; torch's
    JIT loader does not check this, and a mismatch fails late (link or load errors) or at run time.
    """
    import torch

    if torch_cuda is None:
        raise NativeBuildError(
            f"torch {torch.__version__} is a CPU-only build; the cuda backend needs a CUDA build of torch"
        )
    if torch_cuda.split(".")[0] != nvcc_release.split(".")[0]:
        major = torch_cuda.split(".")[0]
        raise NativeBuildError(
            f"{nvcc} is CUDA {nvcc_release} but torch {torch.__version__} was built with CUDA {torch_cuda}: "
            f"install a CUDA {major}.x toolkit and point CUDA_HOME at it (or install the torch build for "
            f"CUDA {nvcc_release.split('.')[0]})"
        )


def _build(kind: str) -> ModuleType:
    """Compile (or take from torch's cache) and import the extension for ``kind``, toolkit checked first."""
    import torch
    from torch.utils import cpp_extension

    if kind == "cuda":
        nvcc, release = nvcc_version()
        check_toolkit(torch.version.cuda, nvcc, release)
    return cpp_extension.load(**build_arguments(kind))


def load(kind: str) -> ModuleType:
    """The compiled extension for ``kind`` ("cpu" or "cuda"), built once; raises ``NativeBuildError``."""
    with _lock:
        if kind in _modules:
            return _modules[kind]
        if kind in _errors:
            raise NativeBuildError(_errors[kind])
        if kind == "cuda":
            import torch

            if not torch.cuda.is_available():
                _errors[kind] = "no CUDA device"
                raise NativeBuildError(_errors[kind])
        try:
            logger.debug("loading the %s encoder kernel (built with ninja on first use, then cached)", kind)
            module = _build(kind)
        except Exception as exc:  # noqa: BLE001 - any compiler/loader failure means "unavailable"
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            _errors[kind] = f"build failed: {first_line}"
            raise NativeBuildError(_errors[kind]) from exc
        _modules[kind] = module
        return module


def release_host_buffers() -> int:
    """Free the host buffers the loaded kernels keep for reuse (see ``csrc/host_buffer_pool.h``).

    Returns the bytes released. Builds nothing: without a loaded kernel there is nothing to free.
    """
    with _lock:
        modules = list(_modules.values())
    return sum(int(module.release_host_buffers()) for module in modules)


def status(kind: str) -> str:
    """One line for ``earth4d-gis info``: "ok (built, cached at ...)" or why it is unavailable."""
    try:
        module = load(kind)
    except NativeBuildError as exc:
        text = str(exc)
        return text if text.startswith("build failed") else f"unavailable: {text}"
    return f"ok (built, cached at {Path(module.__file__).parent})"
