"""The demo dataset: samples of the demo world, in memory or written in the original's file formats."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from ..files import atomic_output
from ..quantization import quantize
from .demo_world import DemoWorld
from .samples import SampleSet

log = logging.getLogger(__name__)


def make_demo_dataset(n_samples: int = 200_000, seed: int = 42, world: DemoWorld | None = None) -> SampleSet:
    """``n_samples`` GBIF-like samples of the demo world (default world: ``DemoWorld(seed=0)``)."""
    if n_samples < 1:
        raise InputError(f"demo sample count {n_samples} must be at least 1")
    return (world or DemoWorld()).sample(int(n_samples), seed=seed)


def metadata_frame(samples: SampleSet) -> pd.DataFrame:
    """The samples' coordinates as the original metadata table (``event_date`` as ISO dates)."""
    return pd.DataFrame(
        {
            "latitude": samples.latitude,
            "longitude": samples.longitude,
            "elevation_m": samples.elevation,
            "event_date": np.datetime_as_string(samples.time, unit="D"),
        }
    )


def write_demo_files(
    directory: str | os.PathLike[str], n_samples: int, seed: int = 42, *, overwrite: bool = False
) -> tuple[Path, Path]:
    """Write a demo dataset as the original's files: a metadata CSV and an int8 ``[N, 64]`` tensor (.pt).

    The tensor uses the ``linear127`` quantisation (``q / 127``), as the original AlphaEarth sample
    did, so loading it back needs ``quantization="linear127"``. Returns (metadata path, embeddings path).
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"demo_seed{seed}_n{n_samples}"
    meta_path, emb_path = out / f"{stem}_metadata.csv", out / f"{stem}_embeddings.pt"
    existing = [str(p) for p in (meta_path, emb_path) if p.exists()]
    if existing and not overwrite:
        raise InputError(f"{existing[0]} already exists; use overwrite=True to replace it")
    samples = make_demo_dataset(n_samples, seed)
    codes = torch.from_numpy(quantize(samples.embeddings, "linear127"))
    with atomic_output(meta_path) as tmp:
        metadata_frame(samples).to_csv(tmp, index=False)
    with atomic_output(emb_path) as tmp:
        torch.save(codes, tmp)
    log.info("wrote %d demo samples to %s and %s", len(samples), meta_path, emb_path)
    return meta_path, emb_path
