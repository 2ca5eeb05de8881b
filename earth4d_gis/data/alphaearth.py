"""The original AlphaEarth sample dataset: where it lives, fetching it, and loading it as a ``SampleSet``."""

from __future__ import annotations

import os
from pathlib import Path

from ..geodesy import DEFAULT_TIME_SPAN, TimeSpan
from .download import fetch
from .loading import build_samples, read_embeddings, read_metadata
from .samples import SampleSet

DEFAULT_BASE_URL = "https://storage.googleapis.com/deepearth/datasets/alphaearth/"
METADATA_FILE = "20250927_172450_alphaearth_metadata.csv"
EMBEDDINGS_FILE = "20250927_172519_alphaearth_embeddings.pt"
DEFAULT_DATA_DIR = Path("data") / "alphaearth"
URL_ENV = "EARTH4D_ALPHAEARTH_URL"
"""Environment variable that replaces the directory part of the two URLs (a mirror, a local server)."""
ORIGINAL_QUANTIZATION = "linear127"
"""The original tensor's int8 codes decode as q / 127."""


def alphaearth_base_url(base_url: str | None = None) -> str:
    """The folder URL of the two files: ``base_url``, else ``$EARTH4D_ALPHAEARTH_URL``, else GCS."""
    base = base_url or os.environ.get(URL_ENV) or DEFAULT_BASE_URL
    return base if base.endswith("/") else base + "/"


def ensure_alphaearth(
    data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR,
    *,
    force_download: bool = False,
    base_url: str | None = None,
    progress: bool = True,
) -> tuple[Path, Path]:
    """Download (or verify) the metadata CSV and embeddings tensor in ``data_dir``; return their paths."""
    base = alphaearth_base_url(base_url)
    directory = Path(data_dir)
    return (
        fetch(base + METADATA_FILE, directory / METADATA_FILE, force=force_download, progress=progress),
        fetch(base + EMBEDDINGS_FILE, directory / EMBEDDINGS_FILE, force=force_download, progress=progress),
    )


def load_alphaearth(
    data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR,
    *,
    force_download: bool = False,
    base_url: str | None = None,
    progress: bool = True,
    quantization: str | None = None,
    drop_invalid: bool = False,
    max_samples: int | None = None,
    time_span: TimeSpan = DEFAULT_TIME_SPAN,
) -> SampleSet:
    """``ensure_alphaearth`` then load the pair as ``load_samples`` does.

    int8 codes decode as the original's ``linear127`` unless ``quantization`` says otherwise.
    """
    meta, emb = ensure_alphaearth(
        data_dir, force_download=force_download, base_url=base_url, progress=progress
    )
    raw = read_embeddings(emb)
    if quantization is None and raw.dtype.kind == "i":
        quantization = ORIGINAL_QUANTIZATION
    samples = build_samples(
        read_metadata(meta),
        raw,
        names=(meta.name, emb.name),
        quantization=quantization,
        drop_invalid=drop_invalid,
        max_samples=max_samples,
        time_span=time_span,
    )
    samples.source = "alphaearth"
    return samples
