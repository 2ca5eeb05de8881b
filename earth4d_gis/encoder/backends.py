"""The three interchangeable implementations of the encoder's forward, backward and corner indices.

Every backend computes the same thing from the same ``EncoderConfig``: the reference in PyTorch, the
others in ``csrc/`` (one shared header holds the index, hash and interpolation math).
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from types import ModuleType
from typing import Protocol

import torch

from ..errors import Earth4DError, InputError
from . import native, reference
from .config import EncoderConfig

logger = logging.getLogger(__name__)

BACKENDS = ("reference", "cpu", "cuda")
ENV_VAR = "EARTH4D_BACKEND"

_warned: set[str] = set()
_fallbacks: dict[str, str] = {}


class BackendUnavailableError(Earth4DError):
    """A backend asked for by name (``--backend``, ``EARTH4D_BACKEND``, ``--device cuda``) cannot run here."""


class Backend(Protocol):
    """What the autograd Function needs from a backend. Tables are in ``config.grids`` order."""

    name: str

    def forward(
        self, config: EncoderConfig, coords: torch.Tensor, tables: list[torch.Tensor]
    ) -> torch.Tensor:
        """Features ``[N, output_dim]``."""

    def backward(
        self,
        config: EncoderConfig,
        coords: torch.Tensor,
        tables: list[torch.Tensor],
        grad_out: torch.Tensor,
        need_coords_grad: bool,
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Gradients w.r.t. each table, and w.r.t. the coordinates when asked."""

    def indices(self, config: EncoderConfig, coords: torch.Tensor) -> torch.Tensor:
        """Rows (in its grid's table) of each point's 8 corners at each level, int64 ``[N, levels, 8]``."""


class ReferenceBackend:
    """Pure PyTorch; float32 or float64 tables, any device."""

    name = "reference"

    def forward(
        self, config: EncoderConfig, coords: torch.Tensor, tables: list[torch.Tensor]
    ) -> torch.Tensor:
        return torch.cat(
            [
                reference.grid_forward(g, coords, t, config.smoothstep)
                for g, t in zip(config.grids, tables, strict=True)
            ],
            dim=1,
        )

    def backward(
        self,
        config: EncoderConfig,
        coords: torch.Tensor,
        tables: list[torch.Tensor],
        grad_out: torch.Tensor,
        need_coords_grad: bool,
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        grads, grad_coords = [], None
        for cols, grid, table in zip(config.grid_output_slices().values(), config.grids, tables, strict=True):
            g_table, g_coords = reference.grid_backward(
                grid, coords, table, grad_out[:, cols], config.smoothstep, need_coords_grad
            )
            grads.append(g_table)
            if g_coords is not None:
                grad_coords = g_coords if grad_coords is None else grad_coords + g_coords
        return grads, grad_coords

    def indices(self, config: EncoderConfig, coords: torch.Tensor) -> torch.Tensor:
        return torch.cat([reference.grid_indices(g, coords) for g in config.grids], dim=1)


@functools.lru_cache(maxsize=32)
def level_table(config: EncoderConfig, device: str) -> torch.Tensor:
    """The kernels' per-level constants, int64 ``[levels, 9]``: resolution (3), row offset,
    hashed rows (0 = dense), input columns (3), grid number. See ``LevelInfo`` in hashgrid_math.h."""
    rows = []
    for grid_number, grid in enumerate(config.grids):
        offsets = grid.level_offsets()
        for level in range(grid.n_levels):
            hashed = 0 if grid.level_is_dense(level) else grid.level_table_rows(level)
            rows.append([*grid.resolutions[level], offsets[level], hashed, *grid.axes, grid_number])
    return torch.tensor(rows, dtype=torch.int64, device=device)


class NativeBackend:
    """The compiled kernels: ``cpu`` (OpenMP) or ``cuda``; float32 tables.

    ``module`` is an already loaded extension with the same functions (the tests' host emulation of the
    CUDA kernels); by default the package's own build for ``name``.
    """

    def __init__(self, name: str, module: ModuleType | None = None) -> None:
        self.name = name
        self._module = module if module is not None else native.load(name)

    def _check(self, tables: list[torch.Tensor]) -> None:
        for table in tables:
            if table.dtype != torch.float32:
                raise InputError(f"the {self.name} encoder backend needs float32 tables, not {table.dtype}")

    def forward(
        self, config: EncoderConfig, coords: torch.Tensor, tables: list[torch.Tensor]
    ) -> torch.Tensor:
        self._check(tables)
        levels = level_table(config, str(coords.device))
        return self._module.forward(
            coords.contiguous(), [t.contiguous() for t in tables], levels, config.smoothstep
        )

    def backward(
        self,
        config: EncoderConfig,
        coords: torch.Tensor,
        tables: list[torch.Tensor],
        grad_out: torch.Tensor,
        need_coords_grad: bool,
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        levels = level_table(config, str(coords.device))
        *grads, grad_coords = self._module.backward(
            grad_out.to(torch.float32).contiguous(),
            coords.contiguous(),
            [t.contiguous() for t in tables],
            levels,
            config.smoothstep,
            need_coords_grad,
        )
        return grads, grad_coords

    def indices(self, config: EncoderConfig, coords: torch.Tensor) -> torch.Tensor:
        return self._module.indices(coords.contiguous(), level_table(config, str(coords.device)))


_instances: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The backend object for ``name``; raises ``native.NativeBuildError`` when it cannot be built."""
    if name not in _instances:
        _instances[name] = ReferenceBackend() if name == "reference" else NativeBackend(name)
    return _instances[name]


def available_backends() -> dict[str, str]:
    """Backend name -> status text ("ok ...", "unavailable: ...", "build failed: ..."), building if needed."""
    return {
        "reference": "ok (pure PyTorch)",
        "cpu": native.status("cpu"),
        "cuda": native.status("cuda"),
    }


def _fall_back(name: str, reason: str) -> str:
    _fallbacks[name] = reason
    if name not in _warned:
        _warned.add(name)
        message = f"Earth4D {name} backend unavailable ({reason}); using the slow pure-PyTorch reference"
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        logger.warning(message)
    return "reference"


def fallback_reason(name: str) -> str | None:
    """Why the automatic choice of ``name`` fell back to the reference backend in this process, if it did."""
    return _fallbacks.get(name)


def requested_name(requested: str | None = None) -> str | None:
    """The backend asked for by name: ``requested``, else ``EARTH4D_BACKEND``; ``None`` for automatic."""
    name = requested or os.environ.get(ENV_VAR) or None
    if name is None:
        return None
    name = name.strip().lower()
    if name in ("", "auto"):
        return None
    if name not in BACKENDS:
        raise InputError(f"encoder backend {name!r} is not one of auto, {', '.join(BACKENDS)}")
    return name


def implied_backend(requested: str | None, device_choice: str) -> str | None:
    """The backend a run asks for: ``requested`` (or ``EARTH4D_BACKEND``), else ``cuda`` when the device was
    chosen as ``cuda`` by name, so that ``--device cuda`` never trains silently on the slow reference."""
    name = requested_name(requested)
    if name is None and str(device_choice).strip().lower() == "cuda":
        return "cuda"
    return name


def _require(name: str) -> None:
    try:
        get_backend(name)
    except native.NativeBuildError as exc:
        raise BackendUnavailableError(f"the {name} encoder backend is unavailable: {exc}") from None


def check_backend(requested: str | None, device: torch.device | str = "cpu") -> None:
    """What can be checked when an encoder is built, before it is moved to its device.

    A backend asked for by name must build here (else ``BackendUnavailableError`` with the build's
    reason: "no CUDA device", the compiler's error, a toolkit mismatch). Tables on the CPU may still move
    to a GPU, so only tables already elsewhere are checked against the backend's device.
    """
    name = requested_name(requested)
    device = torch.device(device)
    if name is None or device.type != "cpu":
        resolve_backend(requested, device)
    elif name != "reference":
        _require(name)


def resolve_backend(requested: str | None = None, device: torch.device | str = "cpu") -> str:
    """The backend to use for tensors on ``device``.

    ``requested`` (else the ``EARTH4D_BACKEND`` environment variable, else automatic): automatic picks
    ``cuda`` for GPU tensors and ``cpu`` otherwise. A backend asked for by name that fails to build raises
    ``BackendUnavailableError``; the automatic choice falls back to ``reference`` with one warning (and
    ``fallback_reason`` says why). A backend that cannot run on ``device`` raises ``InputError``.
    """
    device = torch.device(device)
    name = requested_name(requested)
    explicit = name is not None
    if name is None:
        name = "cuda" if device.type == "cuda" else "cpu"
    if name == "cuda" and device.type != "cuda":
        raise InputError(f"the cuda encoder backend needs tensors on a CUDA device, not {device}")
    if name == "cpu" and device.type != "cpu":
        raise InputError(f"the cpu encoder backend needs tensors on the CPU, not {device}")
    if name == "reference":
        return name
    if explicit:
        _require(name)
        return name
    try:
        get_backend(name)
    except native.NativeBuildError as exc:
        return _fall_back(name, str(exc))
    return name


def device_for_backend(requested: str | None, default: str) -> str:
    """The device a model asked to run with ``requested`` belongs on: the CPU for ``cpu``, a GPU for
    ``cuda``, else ``default`` (a model unpickled in a worker process follows its backend)."""
    name = requested_name(requested)
    return name if name in ("cpu", "cuda") else default
