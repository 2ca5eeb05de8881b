"""The deterministic train / validation / test split.

The test set is carved first (``1 - train_split`` of all samples) and is only used for the final
report and the per-epoch prediction files; the validation set is carved out of the training part and
is the only thing early stopping and the choice of the best epoch ever look at. With a minimum test
distance, every sample closer than that to a test point is left out of training altogether, so the test
points stand where a map's pixels usually do: away from the samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..errors import DataError

MIN_SAMPLES = 10


@dataclass(frozen=True)
class Split:
    """Row indices (into the sample set) of each part."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    @property
    def training_part(self) -> np.ndarray:
        """Train and validation rows together: what baselines and priors may learn from."""
        return np.concatenate([self.train, self.validation])


def split_indices(
    n: int,
    train_split: float,
    validation_fraction: float,
    seed: int,
    xyz: np.ndarray | None = None,
    test_min_distance_m: float = 0.0,
) -> Split:
    """Shuffle ``n`` rows with ``seed`` and cut them into train, validation and test (each non-empty).

    With ``test_min_distance_m`` > 0 (``xyz``: ECEF metres of every row), rows closer than that to any
    test row are dropped from train and validation.
    """
    if n < MIN_SAMPLES:
        raise DataError(f"{n} samples are too few to train on (at least {MIN_SAMPLES} are needed)")
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(max(1, int(round(n * (1.0 - train_split)))), n - 2)
    test, rest = order[:n_test], order[n_test:]
    if test_min_distance_m > 0:
        if xyz is None:
            raise ValueError("a minimum test distance needs the rows' coordinates")
        dist = cKDTree(xyz[test]).query(xyz[rest], k=1, distance_upper_bound=test_min_distance_m)[0]
        rest = rest[dist >= test_min_distance_m]
        if len(rest) < 2:
            raise DataError(
                f"test_min_distance {test_min_distance_m:g} m leaves {len(rest)} training samples: "
                "every sample is that close to a test point; use a smaller distance"
            )
    n_val = min(max(1, int(round(len(rest) * validation_fraction))), len(rest) - 1)
    return Split(train=np.sort(rest[n_val:]), validation=np.sort(rest[:n_val]), test=np.sort(test))
