"""The Earth4D encoder: configuration, three backends behind one autograd Function, and the module.

``Earth4DEncoder(EncoderConfig.preset("default"))`` maps float64 ``[N, 4]`` (x, y, z, t) in [0, 1] to
float32 ``[N, output_dim]``. The backend is automatic ("cuda" | "cpu" | "reference"), or forced by
argument or the environment variable ``EARTH4D_BACKEND``.
"""

from __future__ import annotations

from .backends import available_backends, resolve_backend
from .config import EncoderConfig, GridConfig
from .module import Earth4DEncoder

__all__ = ["EncoderConfig", "GridConfig", "Earth4DEncoder", "available_backends", "resolve_backend"]
