"""The run's test-set report: the baselines, accuracy by distance to the samples, ``metrics.json``'s body."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.samples import SampleSet
from . import baselines, distance_bands, distributed
from .build import Training
from .config import TrainConfig
from .data import TrainingData
from .run_state import RunState


def test_baselines(samples: SampleSet, data: TrainingData) -> dict[str, Any]:
    """Zeros, the training mean and kNN interpolation of the training part, scored on the test set."""
    part, test = data.split.training_part, data.split.test
    return baselines.baseline_metrics(
        samples.latitude[part],
        samples.longitude[part],
        samples.elevation[part],
        samples.embeddings[part],
        samples.latitude[test],
        samples.longitude[test],
        samples.elevation[test],
        samples.embeddings[test],
    )


def test_distance_bands(
    samples: SampleSet, data: TrainingData, test_pred: np.ndarray
) -> list[dict[str, Any]]:
    """The test set's accuracy per quintile of distance to the nearest training sample, with kNN-16."""
    part, test = data.split.training_part, data.split.test
    knn = baselines.knn_predict(data.xyz[part], samples.embeddings[part], data.xyz[test], 16)
    nearest = distance_bands.nearest_distance(data.xyz[part], data.xyz[test])
    return distance_bands.band_table(nearest, samples.embeddings[test], {"model": test_pred, "knn_16": knn})


def metrics_document(
    model_metrics: dict[str, Any],
    test_baselines: dict[str, Any],
    bands: list[dict[str, Any]],
    run: RunState,
    train_seconds: float,
    config: TrainConfig,
    data: TrainingData,
) -> dict[str, Any]:
    """``metrics.json``: the test figures, the baselines and the verdict, how the run went, its set-up."""
    on_cosine, on_mape = baselines.beats_knn(model_metrics, test_baselines)
    return {
        "model": model_metrics,
        "baselines": test_baselines,
        "beats_best_knn": on_cosine,
        "beats_best_knn_mape": on_mape,
        "verdict": baselines.verdict(model_metrics, test_baselines, bands),
        "best_epoch": run.best_epoch,
        "epochs_run": run.epochs_done(),
        "stop_reason": run.stop_reason,
        "train_seconds": train_seconds,
        "samples_per_second": run.median_speed(),
        "n_train": int(len(data.split.train)),
        "n_validation": int(len(data.split.validation)),
        "n_test": int(len(data.split.test)),
        "config": config.to_dict(),
        "by_distance_to_nearest_training_sample": bands,
    }


def run_setup(training: Training, ctx: distributed.DistContext, samples: SampleSet) -> dict[str, Any]:
    """Where and how the run trained: device, processes, backend, precision, sizes, data source."""
    model, amp = training.model, training.amp_dtype
    return {
        "device": str(ctx.device),
        "world_size": ctx.world_size,
        "encoder_backend": model.encoder.backend,
        "encoder_backend_fallback": model.encoder.backend_fallback,
        "amp_dtype": str(amp).removeprefix("torch.") if amp else None,
        "parameters": model.parameter_count(),
        "dataset_source": samples.source,
    }
