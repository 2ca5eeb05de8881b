"""Training data: the demo world, AlphaEarth download, loading and validating user files, int8 codes.

Every source produces a ``SampleSet`` (row-aligned coordinates, times and 64-D embeddings).
"""

from __future__ import annotations

from ..conventions import EMBEDDING_DIM
from ..quantization import SCHEMES, dequantize, quantize
from .alphaearth import DEFAULT_DATA_DIR, URL_ENV, ensure_alphaearth, load_alphaearth
from .demo import make_demo_dataset, write_demo_files
from .demo_sampling import BAY_AREA
from .demo_world import DemoWorld, Patch
from .loading import REQUIRED_COLUMNS, load_samples
from .samples import SampleSet
from .validation import ValidationReport

__all__ = [
    "BAY_AREA",
    "DEFAULT_DATA_DIR",
    "EMBEDDING_DIM",
    "REQUIRED_COLUMNS",
    "SCHEMES",
    "URL_ENV",
    "DemoWorld",
    "Patch",
    "SampleSet",
    "ValidationReport",
    "dequantize",
    "ensure_alphaearth",
    "load_alphaearth",
    "load_samples",
    "make_demo_dataset",
    "quantize",
    "write_demo_files",
]
