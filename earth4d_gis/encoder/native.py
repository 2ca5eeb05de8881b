"""Building and loading the native kernels (C++/OpenMP and CUDA) with ``torch.utils.cpp_extension``.

The sources ship as package data (``earth4d_gis/csrc`` in an installed copy, ``<repo>/csrc`` in a
checkout). They are compiled with ninja on first use and cached by torch (``TORCH_EXTENSIONS_DIR``,
by default ``~/.cache/torch_extensions``); a changed source is rebuilt automatically.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from types import ModuleType

import earth4d_gis

logger = logging.getLogger(__name__)

_MATH_HEADER = "hashgrid_math.h"
CPU_SOURCES = ("bindings.cpp", "hashgrid_cpu.cpp")
HEADERS = ("hashgrid_math.h", "hashgrid_kernels.h", "host_buffer_pool.h")
CUDA_SOURCES = ("bindings.cpp", "hashgrid_cpu.cpp", "hashgrid_cuda.cu")

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


def _build(kind: str) -> ModuleType:
    from torch.utils import cpp_extension

    src = source_dir()
    suffix = _sources_digest(src)
    common = {"extra_include_paths": [str(src)], "verbose": False}
    if kind == "cpu":
        return cpp_extension.load(
            name=f"earth4d_hashgrid_cpu_{suffix}",
            sources=[str(src / s) for s in CPU_SOURCES],
            extra_cflags=["-O3", "-fopenmp"],
            extra_ldflags=["-fopenmp"],
            **common,
        )
    return cpp_extension.load(
        name=f"earth4d_hashgrid_cuda_{suffix}",
        sources=[str(src / s) for s in CUDA_SOURCES],
        extra_cflags=["-O3", "-fopenmp"],
        extra_cuda_cflags=["-O3", "-DEARTH4D_WITH_CUDA"],
        extra_ldflags=["-fopenmp"],
        with_cuda=True,
        **common,
    )


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
