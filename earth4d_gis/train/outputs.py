"""What a run writes besides checkpoints: per-epoch predictions and maps, the model file, metrics.json,
the final maps and curves, and the training video."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..checkpoint import ModelBundle, save_model_file
from ..data.samples import SampleSet
from ..elevation_prior import ElevationPrior
from ..errors import InputError
from ..geodesy import TimeSpan, normalized_coordinates
from ..model import Earth4DModel
from ..projection import RGBProjection
from . import predictions, visualize
from .data import TrainingData
from .layout import OutputLayout, write_json_atomic

log = logging.getLogger(__name__)

Predict = Callable[[torch.Tensor], torch.Tensor]
"""The evaluated model on encoder coordinates (batched, no gradients)."""


class RunOutputs:
    """The run's files other than checkpoints, written by the main process."""

    def __init__(
        self,
        layout: OutputLayout,
        samples: SampleSet,
        data: TrainingData,
        time_span: TimeSpan,
        world: Any,
        seed: int,
    ) -> None:
        self.layout = layout
        self.samples = samples
        self.data = data
        self.time_span = time_span
        part = data.split.training_part
        self.projection = RGBProjection.fit(samples.embeddings[part], seed=seed)
        self.elevation_prior = ElevationPrior.fit(
            samples.latitude[part], samples.longitude[part], samples.elevation[part]
        )
        self.view = visualize.build_map_view(world, samples.subset(data.split.test), samples.time)

    def write_reference_files(self) -> None:
        """The fixed test subset's truth and coordinates, written once before the first epoch."""
        if self.data.subset.size:
            rows = self.data.split.test[self.data.subset]
            predictions.write_reference_files(self.layout.predictions, self.samples.subset(rows), rows)

    def _predict_view(self, predict: Predict) -> np.ndarray:
        view = self.view
        assert view is not None
        coords = normalized_coordinates(
            view.latitude, view.longitude, view.elevation, view.time, self.time_span
        )
        return predict(torch.from_numpy(coords).to(self.data.test_x.device)).cpu().numpy()

    def epoch(self, epoch: int, predict: Predict, maps: bool) -> None:
        """The test subset's predictions after this epoch, and (``maps``) its Bay Area maps."""
        data = self.data
        if data.subset.size:
            pred = predict(data.test_x[torch.from_numpy(data.subset).to(data.test_x.device)]).cpu().numpy()
            predictions.write_epoch_predictions(
                self.layout.predictions, epoch, data.split.test[data.subset], pred
            )
        if self.view is not None and maps:
            pred = self._predict_view(predict)
            vis = self.layout.visualizations
            visualize.render_rgb_pair(
                self.view, pred, self.projection, vis / f"bay_area_epoch_{epoch}_rgb.png", f"epoch {epoch}"
            )
            visualize.render_error(
                self.view, pred, vis / f"bay_area_epoch_{epoch}_error.png", f"epoch {epoch}"
            )

    def final(
        self,
        model: Earth4DModel,
        predict: Predict,
        metrics: dict[str, Any],
        history: dict[str, list[float]],
        extra: dict[str, Any],
        video: bool,
    ) -> ModelBundle:
        """The model file, curves, final maps, ``metrics.json`` (with the file's size) and the video."""
        root = self.layout.root
        bundle = ModelBundle(
            model=model,
            time_span=self.time_span,
            rgb_projection=self.projection,
            elevation_prior=self.elevation_prior,
            metrics=metrics,
            dataset_fingerprint=self.samples.fingerprint(),
            extra=extra,
        )
        model_path = save_model_file(bundle, self.layout.model)
        metrics["model_file_bytes"] = model_path.stat().st_size
        if history["epoch"]:
            visualize.render_training_curves(history, root / "training_curves.png", metrics["baselines"])
        if self.view is not None:
            pred = self._predict_view(predict)
            visualize.render_rgb_pair(
                self.view, pred, self.projection, root / "final_bay_area_rgb.png", "final model"
            )
            visualize.render_error(self.view, pred, root / "final_bay_area_error.png", "final model")
        write_json_atomic(metrics, self.layout.metrics)
        if video and self.view is not None:
            self._video()
        return bundle

    def _video(self) -> None:
        from .video import make_video

        if shutil.which("ffmpeg") is None:
            try:
                import imageio_ffmpeg

                imageio_ffmpeg.get_ffmpeg_exe()
            except (ImportError, RuntimeError) as exc:
                log.warning("no training video: ffmpeg is not available (%s)", exc)
                return
        try:
            make_video(self.layout.visualizations, self.layout.video, overwrite=True)
        except (OSError, RuntimeError, InputError) as exc:
            log.warning("no training video: %s", exc)
