"""The deterministic train / validation / test split.

The test set is carved first (``1 - train_split`` of all samples) and is only used for the final
report and the per-epoch prediction files; the validation set is carved out of the training part and
is the only thing the learning-rate schedule and early stopping ever look at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def split_indices(n: int, train_split: float, validation_fraction: float, seed: int) -> Split:
    """Shuffle ``n`` rows with ``seed`` and cut them into train, validation and test (each non-empty)."""
    if n < MIN_SAMPLES:
        raise DataError(f"{n} samples are too few to train on (at least {MIN_SAMPLES} are needed)")
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(max(1, int(round(n * (1.0 - train_split)))), n - 2)
    n_val = min(max(1, int(round((n - n_test) * validation_fraction))), n - n_test - 1)
    test = np.sort(order[:n_test])
    validation = np.sort(order[n_test : n_test + n_val])
    train = np.sort(order[n_test + n_val :])
    return Split(train=train, validation=validation, test=test)
