"""The training run: data resident on the device, a cosine schedule over the budget, checkpoints, outputs.

``train(config, samples)`` runs on one process, or on each process of a ``torchrun`` job (rank 0 writes
the outputs). Coordinates stay float64 up to the encoder; mixed precision (CUDA only) covers the decoder.
This module orchestrates; each part has its own module: ``layout`` (the output folder), ``data`` (split,
tensors, sample bank), ``build`` (model, optimizer, schedule), ``epoch`` (one epoch),
``run_state`` (history, best epoch, stop reason), ``resume`` (checkpoints), ``outputs`` (files, maps,
video) and ``report`` (baselines, distance bands, ``metrics.json``).
"""

from __future__ import annotations

import gc
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.samples import SampleSet
from ..encoder import native
from ..errors import CancelledError
from ..geodesy import TimeSpan
from . import distributed, evaluation, metrics, report, resume, state
from .build import build_training
from .config import TrainConfig
from .data import prepare_training_data
from .epoch import train_epoch
from .layout import VIDEO_NAME, OutputLayout
from .nan_scan import check_finite
from .outputs import RunOutputs
from .run_state import RunState

__all__ = ["VIDEO_NAME", "TrainResult", "train"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished run produced: the model file, the final metrics and the per-epoch history."""

    output_dir: Path
    model_path: Path | None
    metrics: dict[str, Any]
    history: dict[str, list[float]] = field(default_factory=dict)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(
    config: TrainConfig,
    samples: SampleSet,
    *,
    world: Any = None,
    time_span: TimeSpan | None = None,
) -> TrainResult:
    """Train an Earth4D model on ``samples`` and write the output folder; returns the final metrics.

    ``world`` (a ``DemoWorld``) gives the Bay Area maps a dense ground truth; without it the maps show
    the test samples in the box. Under ``torchrun`` call this on every process.
    """
    config.validate()
    ctx = distributed.setup(config.device)
    try:
        return _Trainer(config, samples, ctx, world, time_span or TimeSpan()).run()
    finally:
        distributed.teardown(ctx)
        # The trainer's tensors (reference cycles included) go back to the kernels' host buffer pool,
        # which is then emptied: a long-lived process (QGIS, a notebook) does not keep a step's buffers.
        gc.collect()
        native.release_host_buffers()


class _Trainer:
    """One run: set up, the epoch loop with validation, early stopping and checkpoints, the report."""

    def __init__(
        self,
        config: TrainConfig,
        samples: SampleSet,
        ctx: distributed.DistContext,
        world: Any,
        time_span: TimeSpan,
    ) -> None:
        self.config = config
        self.samples = samples
        self.ctx = ctx
        self.world = world
        self.time_span = time_span
        self.layout = OutputLayout(Path(config.output_dir))
        self.fingerprint = samples.fingerprint()
        self.run_state = RunState()

    def _predict(self, coords: torch.Tensor) -> torch.Tensor:
        return evaluation.predict(self.training.model, coords, self.config.eval_batch_size)

    def _progress(self, epochs_done: float, deadline: float | None) -> float:
        """How much of the run's budget is spent (epochs or time, whichever is further): drives the LR."""
        progress = epochs_done / self.config.epochs
        if deadline is not None:
            progress = max(progress, 1.0 - (deadline - time.monotonic()) / self.config.time_limit)
        return progress

    def _save_last(self, epoch: int) -> None:
        resume.save_last(
            self.layout.last, epoch, self.training, self.run_state, self.config, self.fingerprint
        )

    def run(self) -> TrainResult:
        cfg, ctx = self.config, self.ctx
        self.layout.prepare(cfg.resume, cfg.overwrite)
        ctx.barrier()
        _seed_everything(cfg.seed)
        self.data = prepare_training_data(self.samples, cfg, self.time_span, ctx.device)
        self.training = build_training(cfg, self.data, self.time_span, ctx)
        if cfg.resume:
            self.run_state = resume.resume(
                self.layout.last, self.layout.best, self.training, cfg, self.fingerprint
            )
        self.outputs: RunOutputs | None = None
        test_baselines: dict[str, Any] = {}
        if ctx.is_main:
            self.outputs = RunOutputs(
                self.layout, self.samples, self.data, self.time_span, self.world, cfg.seed
            )
            test_baselines = report.test_baselines(self.samples, self.data)
            best = test_baselines.get("best_knn")
            log.info(
                "baselines on the test set: mean vector %s; %s %s",
                metrics.summary(test_baselines["mean"]),
                best,
                metrics.summary(test_baselines[best]),
            )
            if not cfg.resume:
                self.outputs.write_reference_files()
        if not cfg.skip_nan_test:
            check_finite(
                self.training.model,
                self.data.train_x,
                self.data.train_y,
                self.samples,
                self.data.split.train,
                cfg.eval_batch_size,
            )
        deadline = time.monotonic() + cfg.time_limit if cfg.time_limit else None
        epoch = self.run_state.start_epoch
        train_start = time.monotonic()
        try:
            for epoch in range(self.run_state.start_epoch + 1, cfg.epochs + 1):
                if self._run_epoch(epoch, deadline):
                    break
        except KeyboardInterrupt as exc:
            error = CancelledError(self._interrupted(epoch))
            error.exit_code = 128 + int(getattr(exc, "signum", 2))  # 130 for Ctrl-C, 143 for SIGTERM
            raise error from None
        train_seconds = time.monotonic() - train_start
        self._load_final_weights()
        result_metrics: dict[str, Any] = {}
        model_path = None
        if self.outputs is not None:
            result_metrics = self._report(test_baselines, train_seconds)
            model_path = self.layout.model
        ctx.barrier()
        return TrainResult(self.layout.root, model_path, result_metrics, self.run_state.history)

    def _run_epoch(self, epoch: int, deadline: float | None) -> bool:
        """Train one epoch, validate, record and save it; True when training should stop."""
        cfg, run = self.config, self.run_state
        label = f"epoch {epoch}/{cfg.epochs}"
        started = time.monotonic()
        train_loss, seen, out_of_time = train_epoch(
            self.training,
            self.data,
            cfg,
            self.ctx,
            epoch=epoch,
            deadline=deadline,
            progress=lambda done: self._progress(done, deadline),
            label=label,
            last_checkpoint=self.layout.last,
        )
        seconds = time.monotonic() - started  # throughput over the training alone
        val = evaluation.validate(self.training.model, self.data.val_x, self.data.val_y, cfg, self.ctx)
        lr = self.training.optimizer.param_groups[0]["lr"]
        improved = run.record(epoch, train_loss, val, lr, seen, seconds)
        if improved:
            run.best_state = state.cpu_state_dict(self.training.model)
        if self.outputs is not None:
            self._save_epoch(epoch, improved)
            log.info(
                "%s  train loss %.5g  val loss %.5g  val MAPE %.3f%%  val cos %.4f  lr %.2g  "
                "%.0f samples/s%s",
                label,
                train_loss,
                val["loss"],
                val["mape"],
                val["cosine"],
                lr,
                seen / max(seconds, 1e-9),
                "  *best*" if improved else "",
            )
        self.ctx.barrier()
        if out_of_time:
            run.stop_reason = "time limit"
            return True
        if cfg.patience and run.bad_epochs >= cfg.patience:
            run.stop_reason = f"early stopping (no better validation loss for {cfg.patience} epochs)"
            log.info("stopping early: %s", run.stop_reason)
            return True
        return False

    def _save_epoch(self, epoch: int, improved: bool) -> None:
        """``last.pt``, ``best.pt`` when it improved, the periodic checkpoint, predictions and maps."""
        cfg, run, layout = self.config, self.run_state, self.layout
        self._save_last(epoch)
        if improved and run.best_state is not None:
            resume.save_weights(layout.best, epoch, self.training, run.best_state, self.fingerprint)
        if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
            weights = state.cpu_state_dict(self.training.model)
            resume.save_weights(
                layout.epoch_checkpoint(epoch), epoch, self.training, weights, self.fingerprint
            )
        assert self.outputs is not None
        maps = bool(cfg.visualize_every) and epoch % cfg.visualize_every == 0
        self.outputs.epoch(epoch, self._predict, maps)

    def _load_final_weights(self) -> None:
        """The best validation epoch's weights into the model (the last epoch's when none improved)."""
        if self.run_state.best_state is not None:
            self.training.model.load_state_dict(self.run_state.best_state)

    def _report(self, test_baselines: dict[str, Any], train_seconds: float) -> dict[str, Any]:
        """Score the final model on the test set and write the model file, maps and ``metrics.json``."""
        assert self.outputs is not None
        test_pred = self._predict(self.data.test_x)
        model_metrics = metrics.evaluate(test_pred, self.data.test_y)
        bands = report.test_distance_bands(self.samples, self.data, test_pred.cpu().numpy())
        document = report.metrics_document(
            model_metrics, test_baselines, bands, self.run_state, train_seconds, self.config, self.data
        )
        document.update(report.run_setup(self.training, self.ctx, self.samples))
        cfg = self.config
        self.outputs.final(
            self.training.model,
            self._predict,
            document,
            self.run_state.history,
            {"source": self.samples.source, "train_config": cfg.to_dict()},
            video=cfg.make_video and bool(cfg.visualize_every),
        )
        log.info("test set: %s; %s", metrics.summary(model_metrics), document["verdict"])
        return document

    def _interrupted(self, epoch: int) -> str:
        """What an interrupt in the main phase leaves, and how to go on."""
        saved = self.run_state.saved_epoch
        if saved is None:
            return (
                "training interrupted before its first epoch finished: there is nothing to resume; run the "
                "same command again"
            )
        return (
            f"training interrupted during epoch {epoch}; {self.layout.last} holds epoch {saved}, "
            "continue with resume=True"
        )
