"""The training data on the device: the split, the tensors, the sample bank and its neighbours."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..data.samples import SampleSet
from ..geodesy import TimeSpan, geodetic_to_ecef, normalized_coordinates
from ..model import Neighbours
from ..neighbours import SampleBank
from . import predictions
from .config import TrainConfig
from .splits import Split, split_indices

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Everything the loop reads, resident on the training device.

    With a sample bank, ``train_neighbours`` are each training row's leave-one-out neighbours,
    ``blend_rows`` teach the blend and ``field_rows`` the network (stacking, ``TrainConfig.blend_fraction``).
    """

    xyz: np.ndarray
    split: Split
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    subset: np.ndarray
    """Rows of the test set whose predictions are written after every epoch."""
    bank: SampleBank | None = None
    train_neighbours: Neighbours | None = None
    field_rows: torch.Tensor | None = None
    blend_rows: torch.Tensor | None = None

    def row_groups(self) -> list[torch.Tensor]:
        """The training rows an epoch draws from, one tensor per kind (network, blend) or all in one."""
        if self.field_rows is not None and self.blend_rows is not None:
            return [self.field_rows, self.blend_rows]
        return [torch.arange(self.train_x.shape[0], device=self.train_x.device)]


def prepare_training_data(
    samples: SampleSet, config: TrainConfig, time_span: TimeSpan, device: torch.device
) -> TrainingData:
    """Split the samples (train / validation / test), move them to ``device`` and build the bank."""
    n = len(samples)
    xyz = geodetic_to_ecef(samples.latitude, samples.longitude, samples.elevation)
    split = split_indices(
        n, config.train_split, config.validation_fraction, config.seed, xyz, config.test_min_distance_m
    )
    coords = normalized_coordinates(
        samples.latitude, samples.longitude, samples.elevation, samples.time, time_span
    )
    emb = samples.embeddings

    def on_device(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.from_numpy(np.ascontiguousarray(coords[rows])).to(device),
            torch.from_numpy(np.ascontiguousarray(emb[rows])).to(device),
        )

    train_x, train_y = on_device(split.train)
    val_x, val_y = on_device(split.validation)
    test_x, test_y = on_device(split.test)
    data = TrainingData(
        xyz=xyz,
        split=split,
        train_x=train_x,
        train_y=train_y,
        val_x=val_x,
        val_y=val_y,
        test_x=test_x,
        test_y=test_y,
        subset=predictions.prediction_subset(len(split.test), config.prediction_samples, config.seed),
    )
    if config.neighbours:
        # The bank holds the training rows alone; each trains with its leave-one-out neighbours.
        rows = split.train
        data.bank = SampleBank.from_samples(coords[rows], emb[rows], config.neighbours, time_span)
        idx, dist = data.bank.query(coords[rows], exclude=np.arange(len(rows)))
        data.train_neighbours = (idx.to(device), dist.to(device))
        pick = np.random.default_rng(config.seed).random(len(rows)) < config.blend_fraction
        data.blend_rows = torch.from_numpy(np.flatnonzero(pick)).to(device)
        data.field_rows = torch.from_numpy(np.flatnonzero(~pick)).to(device)
    left_out = n - len(split.test) - len(split.training_part)
    log.info(
        "%d samples: %d train, %d validation, %d test (on %s)%s",
        n,
        len(split.train),
        len(split.validation),
        len(split.test),
        device,
        f"; {left_out} samples left out within {config.test_min_distance_m:g} m of a test point"
        if config.test_min_distance_m
        else "",
    )
    return data
