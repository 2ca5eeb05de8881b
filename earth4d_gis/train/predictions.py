"""The ``predictions/`` folder: a fixed test subset's coordinates, ground truth and per-epoch predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..data.samples import SampleSet
from ..files import atomic_output, check_output_folder

BAND_NAMES = [f"A{i:02d}" for i in range(64)]


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> Path:
    """Write a CSV to a temporary file beside ``path``, then rename it into place (mode per umask)."""
    check_output_folder(path.parent)
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    return path


def prediction_subset(n_test: int, size: int, seed: int) -> np.ndarray:
    """Positions (within the test set) of the fixed subset whose predictions are saved every epoch."""
    size = min(size, n_test)
    return np.sort(np.random.default_rng(seed).choice(n_test, size=size, replace=False))


def write_reference_files(folder: Path, samples: SampleSet, sample_ids: np.ndarray) -> None:
    """``test_coordinates.csv`` (where and when) and ``ground_truth.csv`` (A00..A63) for the subset."""
    coords = pd.DataFrame(
        {
            "sample_id": sample_ids,
            "latitude": samples.latitude,
            "longitude": samples.longitude,
            "elevation_m": samples.elevation,
            "event_date": np.datetime_as_string(samples.time, unit="s"),
        }
    )
    write_csv_atomic(coords, folder / "test_coordinates.csv")
    write_csv_atomic(_embedding_frame(sample_ids, samples.embeddings), folder / "ground_truth.csv")


def write_epoch_predictions(
    folder: Path, epoch: int, sample_ids: np.ndarray, predictions: np.ndarray
) -> Path:
    """``epoch_<N>.csv``: the model's A00..A63 for the subset after epoch N."""
    return write_csv_atomic(_embedding_frame(sample_ids, predictions), folder / f"epoch_{epoch}.csv")


def _embedding_frame(sample_ids: np.ndarray, embeddings: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(np.asarray(embeddings, dtype=np.float32), columns=BAND_NAMES)
    frame.insert(0, "sample_id", sample_ids)
    return frame
