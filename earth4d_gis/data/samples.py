"""``SampleSet``: the row-aligned training samples every data source produces."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..conventions import EMBEDDING_DIM
from ..errors import DataError


@dataclass
class SampleSet:
    """One row per sample: where and when (lat, lon, elevation, time) and the 64-D embedding there.

    Arrays are normalised on construction (float64 coordinates, ``datetime64[s]`` times, float32
    ``[N, 64]`` embeddings) so that consumers never have to check dtypes again.
    """

    latitude: np.ndarray
    longitude: np.ndarray
    elevation: np.ndarray
    time: np.ndarray
    embeddings: np.ndarray
    source: str = "unknown"
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.latitude = np.ascontiguousarray(self.latitude, dtype=np.float64).reshape(-1)
        self.longitude = np.ascontiguousarray(self.longitude, dtype=np.float64).reshape(-1)
        self.elevation = np.ascontiguousarray(self.elevation, dtype=np.float64).reshape(-1)
        self.time = np.ascontiguousarray(np.asarray(self.time).astype("datetime64[s]")).reshape(-1)
        self.embeddings = np.ascontiguousarray(self.embeddings, dtype=np.float32)
        n = self.latitude.shape[0]
        lengths = {
            "longitude": self.longitude.shape[0],
            "elevation": self.elevation.shape[0],
            "time": self.time.shape[0],
            "embeddings": self.embeddings.shape[0] if self.embeddings.ndim else 0,
        }
        bad = {name: size for name, size in lengths.items() if size != n}
        if bad:
            raise DataError(
                f"sample arrays differ in length: latitude has {n} rows, "
                + ", ".join(f"{name} has {size}" for name, size in bad.items())
            )
        if self.embeddings.ndim != 2 or self.embeddings.shape[1] != EMBEDDING_DIM:
            raise DataError(
                f"embeddings have shape {list(self.embeddings.shape)}, expected [N, {EMBEDDING_DIM}]"
            )

    def __len__(self) -> int:
        return int(self.latitude.shape[0])

    def fingerprint(self) -> str:
        """sha256 (hex) of the samples' content: the same rows in the same order give the same value.

        Recorded in model files so a model can say which data it was trained on. Cached after the
        first call (the arrays are treated as immutable once built).
        """
        if self._fingerprint is None:
            digest = hashlib.sha256()
            digest.update(f"earth4d-samples-v1:{len(self)}:{EMBEDDING_DIM}".encode())
            for arr in (
                self.latitude,
                self.longitude,
                self.elevation,
                self.time.view(np.int64),
                self.embeddings,
            ):
                digest.update(memoryview(np.ascontiguousarray(arr)).cast("B"))
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def subset(self, idx: Any) -> SampleSet:
        """The rows selected by ``idx`` (indices, a boolean mask or a slice), as a new ``SampleSet``."""
        if isinstance(idx, slice):
            sel: Any = idx
        else:
            sel = np.asarray(idx)
            if sel.dtype != bool:
                sel = sel.astype(np.int64, copy=False)
        return SampleSet(
            latitude=self.latitude[sel],
            longitude=self.longitude[sel],
            elevation=self.elevation[sel],
            time=self.time[sel],
            embeddings=self.embeddings[sel],
            source=self.source,
        )

    def years(self) -> np.ndarray:
        """Calendar year of each sample (int64), handy for annual products like AlphaEarth."""
        return self.time.astype("datetime64[Y]").astype(np.int64) + 1970
