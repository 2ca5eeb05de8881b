"""The training loop: data resident on the device, a cosine schedule over the budget, checkpoints, outputs.

``train(config, samples)`` runs on one process, or on each process of a ``torchrun`` job (rank 0 writes
the outputs). Coordinates stay float64 up to the encoder; mixed precision (CUDA only) covers the decoder.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .. import files
from ..checkpoint import ModelBundle, save_model_file
from ..data.samples import SampleSet
from ..elevation_prior import ElevationPrior
from ..encoder import native
from ..encoder.backends import implied_backend
from ..errors import CancelledError, DataError, InputError
from ..geodesy import TimeSpan, geodetic_to_ecef, normalized_coordinates
from ..model import Earth4DModel, Neighbours
from ..neighbours import SampleBank
from ..projection import RGBProjection
from . import baselines as baselines_mod
from . import distance_bands, distributed, metrics, predictions, state, visualize
from .averaging import WeightAverage
from .config import TrainConfig
from .loss import data_loss
from .nan_scan import check_finite
from .optim import build_optimizer, lazy_pays_off, touched_rows_bound
from .schedule import CosineSchedule
from .splits import Split, split_indices

log = logging.getLogger(__name__)

VIDEO_NAME = "training_progression.mp4"
CHECK_EVERY = 5
"""Steps between reads of the loss (finite check, progress bar): each read is a host sync on a GPU."""


@dataclass
class TrainResult:
    """What a finished run produced: the model file, the final metrics and the per-epoch history."""

    output_dir: Path
    model_path: Path | None
    metrics: dict[str, Any]
    history: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class _Layout:
    """The original pipeline's output folder layout."""

    root: Path

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions"

    @property
    def visualizations(self) -> Path:
        return self.root / "visualizations"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"checkpoint_epoch_{epoch}.pt"

    def reference_files(self) -> list[Path]:
        """The files a run writes before its first epoch (the fixed test subset)."""
        return [self.predictions / n for n in ("ground_truth.csv", "test_coordinates.csv")]

    def generated_files(self) -> list[Path]:
        """Files a previous run left here (removed by --overwrite; nothing else in the folder is touched)."""
        found = [self.root / n for n in ("final_model.pt", "metrics.json", "training_curves.png", VIDEO_NAME)]
        found += list(self.root.glob("final_bay_area_*.png"))
        found += list(self.checkpoints.glob("*.pt"))
        found += self.reference_files()
        found += list(self.predictions.glob("epoch_*.csv"))
        found += list(self.visualizations.glob("bay_area_epoch_*.png"))
        return [p for p in found if p.is_file()]


class _Forward(nn.Module):
    """The model's (blended, field) pair; the encoder in full precision, the decoder under autocast."""

    def __init__(self, model: Earth4DModel, amp_dtype: torch.dtype | None) -> None:
        super().__init__()
        self.model = model
        self.amp_dtype = amp_dtype

    def forward(
        self, coords: torch.Tensor, neighbours: Neighbours | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(
            coords.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            out, field = self.model.forward_parts(coords, neighbours)
        return out.float(), field.float()


def _write_json_atomic(obj: Any, path: Path) -> Path:
    with files.atomic_output(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2))
    return path


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
        self.device = ctx.device
        self.world = world
        self.time_span = time_span
        self.layout = _Layout(Path(config.output_dir))
        self.history: dict[str, list[float]] = {
            k: []
            for k in (
                "epoch",
                "train_loss",
                "val_loss",
                "val_mape",
                "val_cosine",
                "lr",
                "samples_per_s",
                "seconds",
            )
        }
        self.best_val = math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.start_epoch = 0
        self.stop_reason = "epochs"
        self.saved_epoch: int | None = None

    # ----- setup -------------------------------------------------------------------------------
    def _prepare_output(self) -> None:
        layout = self.layout
        if self.config.resume and not layout.last.is_file():
            raise InputError(
                f"--resume: there is no checkpoint {layout.last} to continue from (no epoch of a run "
                "there finished); run the same command without --resume"
            )
        files.check_output_folder(layout.root)
        for folder in (layout.root, layout.checkpoints, layout.predictions, layout.visualizations):
            files.remove_stale_temporaries(folder)  # what a killed run left (e.g. .last.pt.*.tmp)
        if self.config.resume:
            return
        previous = layout.generated_files() if layout.root.exists() else []
        if previous and set(previous) <= set(layout.reference_files()):
            # A run stopped before its first epoch ended left only its reference files: start afresh.
            for path in previous:
                path.unlink()
            previous = []
        if previous and not self.config.overwrite:
            raise InputError(
                f"output folder {layout.root} already holds a training run; use --resume to continue it "
                "or --overwrite to start over"
            )
        self.ctx.barrier()
        if self.ctx.is_main:
            for path in previous:
                path.unlink()
        self.ctx.barrier()

    def _prepare_data(self) -> None:
        cfg, device = self.config, self.device
        n = len(self.samples)
        self.xyz = geodetic_to_ecef(self.samples.latitude, self.samples.longitude, self.samples.elevation)
        self.split: Split = split_indices(
            n, cfg.train_split, cfg.validation_fraction, cfg.seed, self.xyz, cfg.test_min_distance_m
        )
        coords = normalized_coordinates(
            self.samples.latitude,
            self.samples.longitude,
            self.samples.elevation,
            self.samples.time,
            self.time_span,
        )
        emb = self.samples.embeddings

        def on_device(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            return (
                torch.from_numpy(np.ascontiguousarray(coords[rows])).to(device),
                torch.from_numpy(np.ascontiguousarray(emb[rows])).to(device),
            )

        self.train_x, self.train_y = on_device(self.split.train)
        self.bank: SampleBank | None = None
        self.train_neighbours: Neighbours | None = None
        if cfg.neighbours:
            # The bank holds the training rows alone; each trains with its leave-one-out neighbours.
            train_rows = self.split.train
            self.bank = SampleBank.from_samples(
                coords[train_rows], emb[train_rows], cfg.neighbours, self.time_span
            )
            idx, dist = self.bank.query(coords[train_rows], exclude=np.arange(len(train_rows)))
            self.train_neighbours = (idx.to(device), dist.to(device))
        self.val_x, self.val_y = on_device(self.split.validation)
        self.test_x, self.test_y = on_device(self.split.test)
        self.subset = predictions.prediction_subset(len(self.split.test), cfg.prediction_samples, cfg.seed)
        log.info(
            "%d samples: %d train, %d validation, %d test (on %s)%s",
            n,
            len(self.split.train),
            len(self.split.validation),
            len(self.split.test),
            device,
            f"; {n - len(self.split.test) - len(self.split.training_part)} samples left out within "
            f"{cfg.test_min_distance_m:g} m of a test point"
            if cfg.test_min_distance_m
            else "",
        )

    def _build_model(self) -> None:
        cfg = self.config
        encoder_config = cfg.encoder_config(self.time_span)
        backend = implied_backend(cfg.backend, cfg.device)  # --device cuda never falls back silently
        self.model = Earth4DModel(
            encoder_config, hidden=cfg.hidden, dropout=cfg.dropout, backend=backend, bank=self.bank
        )
        self.model.to(self.device)
        amp_dtype = None
        if cfg.amp and self.device.type == "cuda":
            amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        self.amp_dtype = amp_dtype
        self.forward = _Forward(self.model, amp_dtype).to(self.device)
        self._start_average()
        self._wrap_distributed()
        lazy = cfg.table_optimizer == "lazy" or (
            cfg.table_optimizer == "auto" and lazy_pays_off(encoder_config, cfg.batch_size)
        )
        self.optimizer = build_optimizer(
            list(self.model.encoder.parameters()),
            list(self.model.decoder.parameters()),
            lr=cfg.learning_rate,
            lazy_tables=lazy,
            weight_decay=cfg.weight_decay,
            table_lr_scale=cfg.table_lr_scale,
            max_touched_rows=touched_rows_bound(encoder_config, cfg.batch_size),
        )
        self.scheduler = CosineSchedule(self.optimizer, cfg.warmup_steps)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)
        counts = self.model.parameter_count()
        log.info(
            "model: preset %s (%d-D features, %s encoder parameters), decoder %s (%s parameters), "
            "backend %s, table optimizer %s",
            cfg.preset,
            encoder_config.output_dim,
            f"{counts['encoder']:,}",
            list(cfg.hidden),
            f"{counts['decoder']:,}",
            self.model.encoder.backend,
            "lazy Adam" if lazy else "dense Adam",
        )

    def _start_average(self) -> None:
        """A fresh weight average of the model as it is now; evaluation reads it (or the model itself)."""
        cfg = self.config
        self.average: WeightAverage | None = None
        self.evaluated = self.model
        if cfg.average_epochs > 0:
            steps_per_epoch = math.ceil(self.train_x.shape[0] / cfg.batch_size)
            self.average = WeightAverage(self.model, max(1.0, cfg.average_epochs * steps_per_epoch))
            self.evaluated = self.average.module

    def _wrap_distributed(self) -> None:
        """DDP over the model's parameters."""
        self.net: nn.Module = self.forward
        if self.ctx.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            # The buffers (the sample bank) are built identically on every process: no broadcasts.
            self.net = nn.parallel.DistributedDataParallel(
                self.forward, device_ids=device_ids, broadcast_buffers=False
            )

    def _fit_priors(self) -> None:
        part = self.split.training_part
        s = self.samples
        self.projection = RGBProjection.fit(s.embeddings[part], seed=self.config.seed)
        self.elevation_prior = ElevationPrior.fit(s.latitude[part], s.longitude[part], s.elevation[part])

    def _compute_baselines(self) -> dict[str, Any]:
        part, test, s = self.split.training_part, self.split.test, self.samples
        return baselines_mod.baseline_metrics(
            s.latitude[part],
            s.longitude[part],
            s.elevation[part],
            s.embeddings[part],
            s.latitude[test],
            s.longitude[test],
            s.elevation[test],
            s.embeddings[test],
        )

    # ----- checkpoints -------------------------------------------------------------------------
    def _fingerprint(self) -> str:
        return self.samples.fingerprint()

    def _save_last(self, epoch: int) -> None:
        payload = {
            "epoch": epoch,
            "architecture": self.config.architecture(),
            "description": self.model.describe(),
            "dataset_fingerprint": self._fingerprint(),
            "config": self.config.to_dict(),
            "state_dict": state.cpu_state_dict(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "average": self.average.state_dict() if self.average is not None else None,
            "rng": state.capture_rng(self.generator),
            "history": self.history,
            "early_stopping": {
                "best_val": self.best_val,
                "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs,
            },
        }
        state.save_training_state(self.layout.last, payload)
        self.saved_epoch = epoch

    def _save_model_only(self, path: Path, epoch: int, weights: dict[str, torch.Tensor]) -> None:
        state.save_training_state(
            path,
            {
                "epoch": epoch,
                "description": self.model.describe(),
                "dataset_fingerprint": self._fingerprint(),
                "state_dict": weights,
            },
        )

    def _resume(self) -> None:
        payload = state.load_training_state(self.layout.last)
        if payload.get("architecture") != self.config.architecture():
            raise InputError(
                f"--resume: {self.layout.last} was trained with {payload.get('architecture')}, "
                f"not {self.config.architecture()}; use the same --preset, --hidden and --dropout"
            )
        if payload.get("dataset_fingerprint") != self._fingerprint():
            raise InputError(
                f"--resume: {self.layout.last} was trained on other data (dataset fingerprint differs); "
                "use the same dataset, --max-samples and --seed"
            )
        self.model.load_state_dict(payload["state_dict"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.scaler.load_state_dict(payload["scaler"])
        if self.average is not None:  # the architecture check above guarantees it was saved
            self.average.load_state_dict(payload["average"])
        state.restore_rng(payload["rng"], self.generator)
        self.history = {k: list(v) for k, v in payload["history"].items()}
        early = payload["early_stopping"]
        self.best_val, self.best_epoch, self.bad_epochs = (
            early["best_val"],
            early["best_epoch"],
            early["bad_epochs"],
        )
        if self.layout.best.is_file():
            self.best_state = state.load_training_state(self.layout.best)["state_dict"]
        self.start_epoch = self.saved_epoch = int(payload["epoch"])
        log.info(
            "resuming after epoch %d (best validation loss %.6g at epoch %d)",
            self.start_epoch,
            self.best_val,
            self.best_epoch,
        )

    # ----- evaluation --------------------------------------------------------------------------
    @torch.no_grad()
    def _predict(self, coords: torch.Tensor) -> torch.Tensor:
        was_training = self.evaluated.training
        self.evaluated.eval()
        try:
            outs = [
                self.evaluated(coords[i : i + self.config.eval_batch_size])
                for i in range(0, coords.shape[0], self.config.eval_batch_size)
            ]
        finally:
            self.evaluated.train(was_training)
        return torch.cat(outs) if outs else torch.empty(0, 64, device=coords.device)

    def _validate(self) -> dict[str, float]:
        pred = self._predict(self.val_x)
        loss = float(data_loss(pred, self.val_y, self.config))
        cos = float(F.cosine_similarity(pred, self.val_y, dim=1).mean())
        mape = float((pred - self.val_y).abs().mean() / 2.0 * 100.0)
        return {"loss": self.ctx.mean(loss), "cosine": self.ctx.mean(cos), "mape": self.ctx.mean(mape)}

    # ----- one epoch ---------------------------------------------------------------------------
    def _train_epoch(self, epoch: int, deadline: float | None, label: str) -> tuple[float, int, bool]:
        cfg, ctx = self.config, self.ctx
        n = self.train_x.shape[0]
        perm = torch.randperm(n, generator=self.generator, device=self.device)
        steps = math.ceil(n / cfg.batch_size)
        bar = tqdm(
            total=steps,
            desc=label,
            unit="batch",
            leave=False,
            disable=not (cfg.progress and ctx.is_main),
            dynamic_ncols=True,
        )
        params = [p for p in self.model.parameters() if p.requires_grad]
        # The loss stays on the device; it is read (a host sync on a GPU) every CHECK_EVERY steps.
        total_loss, seen, out_of_time = torch.zeros((), device=self.device), 0, False
        self.forward.train()
        try:
            for step in range(steps):
                idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                if ctx.distributed:
                    idx = idx.tensor_split(ctx.world_size)[ctx.rank]
                x, y = self.train_x[idx], self.train_y[idx]
                neighbours = None
                if self.train_neighbours is not None:
                    neighbours = (self.train_neighbours[0][idx], self.train_neighbours[1][idx])
                self.scheduler.step(self._progress(epoch - 1 + step / steps, deadline))
                out, field = self.net(x, neighbours)
                loss = data_loss(out, y, cfg)
                if self.bank is not None and cfg.field_weight:
                    loss = loss + cfg.field_weight * data_loss(field, y, cfg)
                if step % CHECK_EVERY == 0 or step == steps - 1:
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        raise DataError(
                            f"training diverged at epoch {epoch}, batch {step + 1} (loss {value}); "
                            f"try a lower --learning-rate; {self.layout.last} holds the last good epoch"
                        )
                    with torch.no_grad():
                        mape = float((out - y).abs().mean() / 2.0 * 100.0)
                        cos = float(F.cosine_similarity(out, y, dim=1).mean())
                    bar.set_postfix(loss=f"{value:.4g}", mape=f"{mape:.2f}%", cos=f"{cos:.4f}")
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                if cfg.grad_clip:
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                if self.average is not None:
                    self.average.update()
                batch = idx.shape[0]
                total_loss += loss.detach() * batch
                seen += batch
                bar.update(1)
                if deadline is not None and ctx.any(time.monotonic() >= deadline):
                    out_of_time = True
                    break
        finally:
            bar.close()
        train_loss = float(total_loss) / max(seen, 1)
        if not math.isfinite(train_loss):
            raise DataError(
                f"training diverged in epoch {epoch} (mean loss {train_loss}); try a lower --learning-rate; "
                f"{self.layout.last} holds the last good epoch"
            )
        return ctx.mean(train_loss), seen * ctx.world_size, out_of_time

    # ----- outputs -----------------------------------------------------------------------------
    def _map_view(self) -> visualize.MapView | None:
        test = self.samples.subset(self.split.test)
        return visualize.build_map_view(self.world, test, self.samples.time)

    def _predict_view(self, view: visualize.MapView) -> np.ndarray:
        coords = normalized_coordinates(
            view.latitude, view.longitude, view.elevation, view.time, self.time_span
        )
        return self._predict(torch.from_numpy(coords).to(self.device)).cpu().numpy()

    def _epoch_outputs(self, epoch: int) -> None:
        cfg = self.config
        if self.subset.size:
            pred = self._predict(self.test_x[torch.from_numpy(self.subset).to(self.device)]).cpu().numpy()
            predictions.write_epoch_predictions(
                self.layout.predictions, epoch, self.split.test[self.subset], pred
            )
        if self.view is not None and cfg.visualize_every and epoch % cfg.visualize_every == 0:
            pred = self._predict_view(self.view)
            vis = self.layout.visualizations
            visualize.render_rgb_pair(
                self.view, pred, self.projection, vis / f"bay_area_epoch_{epoch}_rgb.png", f"epoch {epoch}"
            )
            visualize.render_error(
                self.view, pred, vis / f"bay_area_epoch_{epoch}_error.png", f"epoch {epoch}"
            )

    def _final_outputs(self, final_metrics: dict[str, Any]) -> Path:
        root = self.layout.root
        bundle = ModelBundle(
            model=self.model,
            time_span=self.time_span,
            rgb_projection=self.projection,
            elevation_prior=self.elevation_prior,
            metrics=final_metrics,
            dataset_fingerprint=self._fingerprint(),
            extra={"source": self.samples.source, "train_config": self.config.to_dict()},
        )
        model_path = save_model_file(bundle, root / "final_model.pt")
        final_metrics["model_file_bytes"] = model_path.stat().st_size
        if self.history["epoch"]:
            visualize.render_training_curves(
                self.history, root / "training_curves.png", final_metrics["baselines"]
            )
        if self.view is not None:
            pred = self._predict_view(self.view)
            visualize.render_rgb_pair(
                self.view, pred, self.projection, root / "final_bay_area_rgb.png", "final model"
            )
            visualize.render_error(self.view, pred, root / "final_bay_area_error.png", "final model")
        _write_json_atomic(final_metrics, root / "metrics.json")
        if self.config.make_video and self.view is not None and self.config.visualize_every:
            self._make_video()
        return model_path

    def _make_video(self) -> None:
        from .video import make_video

        if shutil.which("ffmpeg") is None:
            try:
                import imageio_ffmpeg

                imageio_ffmpeg.get_ffmpeg_exe()
            except (ImportError, RuntimeError) as exc:
                log.warning("no training video: ffmpeg is not available (%s)", exc)
                return
        try:
            make_video(self.layout.visualizations, self.layout.root / VIDEO_NAME, overwrite=True)
        except (OSError, RuntimeError, InputError) as exc:
            log.warning("no training video: %s", exc)

    # ----- the run -----------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg, ctx = self.config, self.ctx
        self._prepare_output()
        _seed_everything(cfg.seed)
        self._prepare_data()
        self._build_model()
        if cfg.resume:
            self._resume()
        if ctx.is_main:
            self._fit_priors()
            self.view = self._map_view()
            baselines = self._compute_baselines()
            best = baselines.get("best_knn")
            log.info(
                "baselines on the test set: mean vector %s; %s %s",
                metrics.summary(baselines["mean"]),
                best,
                metrics.summary(baselines[best]),
            )
            if not cfg.resume and self.subset.size:
                test_subset = self.split.test[self.subset]
                predictions.write_reference_files(
                    self.layout.predictions, self.samples.subset(test_subset), test_subset
                )
        if not cfg.skip_nan_test:
            check_finite(
                self.model, self.train_x, self.train_y, self.samples, self.split.train, cfg.eval_batch_size
            )
        deadline = time.monotonic() + cfg.time_limit if cfg.time_limit else None
        epoch = self.start_epoch
        train_start = time.monotonic()
        try:
            for epoch in range(self.start_epoch + 1, cfg.epochs + 1):
                if self._run_epoch(epoch, deadline):
                    break
        except KeyboardInterrupt as exc:
            error = CancelledError(self._interrupted(epoch))
            error.exit_code = 128 + int(getattr(exc, "signum", 2))  # 130 for Ctrl-C, 143 for SIGTERM
            raise error from None
        train_seconds = time.monotonic() - train_start
        final_state = self.best_state
        if final_state is None and self.average is not None:
            final_state = state.cpu_state_dict(self.average.module)
        if final_state is not None:
            # The model and the averaged copy that evaluation reads both hold the chosen weights.
            self.model.load_state_dict(final_state)
            if self.average is not None:
                self.average.module.load_state_dict(final_state)
        result_metrics: dict[str, Any] = {}
        model_path = None
        if ctx.is_main:
            test_pred = self._predict(self.test_x)
            model_metrics = metrics.evaluate(test_pred, self.test_y)
            bands = self._distance_bands(test_pred.cpu().numpy())
            verdict = baselines_mod.verdict(model_metrics, baselines, bands)
            result_metrics = self._metrics_document(model_metrics, baselines, verdict, train_seconds)
            result_metrics["by_distance_to_nearest_training_sample"] = bands
            model_path = self._final_outputs(result_metrics)
            log.info("test set: %s; %s", metrics.summary(model_metrics), verdict)
        ctx.barrier()
        return TrainResult(self.layout.root, model_path, result_metrics, self.history)

    def _interrupted(self, epoch: int) -> str:
        """What an interrupt in the main phase leaves, and how to go on."""
        if self.saved_epoch is None:
            return (
                "training interrupted before its first epoch finished: there is nothing to resume; run the "
                "same command again"
            )
        return (
            f"training interrupted during epoch {epoch}; {self.layout.last} holds epoch {self.saved_epoch}, "
            "continue with --resume"
        )

    def _run_epoch(self, epoch: int, deadline: float | None) -> bool:
        """Train one epoch, validate, write outputs; True when training should stop."""
        cfg = self.config
        improved, out_of_time = self._epoch(epoch, deadline, f"epoch {epoch}/{cfg.epochs}")
        self.bad_epochs = 0 if improved else self.bad_epochs + 1
        if out_of_time:
            self.stop_reason = "time limit"
            return True
        if cfg.patience and self.bad_epochs >= cfg.patience:
            self.stop_reason = f"early stopping (no better validation loss for {cfg.patience} epochs)"
            log.info("stopping early: %s", self.stop_reason)
            return True
        return False

    def _progress(self, epochs_done: float, deadline: float | None) -> float:
        """How much of the run's budget is spent (epochs or time, whichever is further): drives the LR."""
        progress = epochs_done / self.config.epochs
        if deadline is not None:
            progress = max(progress, 1.0 - (deadline - time.monotonic()) / self.config.time_limit)
        return progress

    def _epochs_done(self) -> int:
        """The number of the last epoch run."""
        return int(self.history["epoch"][-1]) if self.history["epoch"] else self.start_epoch

    def _epoch(self, epoch: int, deadline: float | None, label: str) -> tuple[bool, bool]:
        """Train one epoch, validate and record it; (validation improved, time limit reached).

        Throughput is timed over the training alone.
        """
        started = time.monotonic()
        train_loss, seen, out_of_time = self._train_epoch(epoch, deadline, label)
        seconds = time.monotonic() - started
        val = self._validate()
        improved = self._record_epoch(epoch, train_loss, val, seen, seconds, label)
        return improved, out_of_time

    def _record_epoch(
        self,
        epoch: int,
        train_loss: float,
        val: dict[str, float],
        seen: int,
        seconds: float,
        label: str,
    ) -> bool:
        """Book-keeping after an epoch (history, best weights, files, log); True if validation improved."""
        cfg, ctx = self.config, self.ctx
        improved = val["loss"] < self.best_val
        if improved:
            self.best_val, self.best_epoch = val["loss"], epoch
            self.best_state = state.cpu_state_dict(self.evaluated)
        lr = self.optimizer.param_groups[0]["lr"]
        for key, value in (
            ("epoch", epoch),
            ("train_loss", train_loss),
            ("val_loss", val["loss"]),
            ("val_mape", val["mape"]),
            ("val_cosine", val["cosine"]),
            ("lr", lr),
            ("samples_per_s", seen / max(seconds, 1e-9)),
            ("seconds", seconds),
        ):
            self.history[key].append(float(value))
        if ctx.is_main:
            self._save_last(epoch)
            if improved:
                self._save_model_only(self.layout.best, epoch, self.best_state)
            if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
                self._save_model_only(
                    self.layout.epoch_checkpoint(epoch), epoch, state.cpu_state_dict(self.evaluated)
                )
            self._epoch_outputs(epoch)
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
        ctx.barrier()
        return improved

    def _distance_bands(self, test_pred: np.ndarray) -> list[dict[str, Any]]:
        """The test set's accuracy per quintile of distance to the nearest training sample, with kNN-16."""
        part, test = self.split.training_part, self.split.test
        knn = baselines_mod.knn_predict(self.xyz[part], self.samples.embeddings[part], self.xyz[test], 16)
        nearest = distance_bands.nearest_distance(self.xyz[part], self.xyz[test])
        return distance_bands.band_table(
            nearest, self.samples.embeddings[test], {"model": test_pred, "knn_16": knn}
        )

    def _metrics_document(
        self, model_metrics: dict[str, Any], baselines: dict[str, Any], verdict: str, train_seconds: float
    ) -> dict[str, Any]:
        on_cosine, on_mape = baselines_mod.beats_knn(model_metrics, baselines)
        speeds = self.history["samples_per_s"]
        return {
            "model": model_metrics,
            "baselines": baselines,
            "beats_best_knn": on_cosine,
            "beats_best_knn_mape": on_mape,
            "verdict": verdict,
            "best_epoch": self.best_epoch,
            "epochs_run": self._epochs_done(),
            "stop_reason": self.stop_reason,
            "train_seconds": train_seconds,
            "samples_per_second": float(np.median(speeds)) if speeds else 0.0,
            "n_train": int(len(self.split.train)),
            "n_validation": int(len(self.split.validation)),
            "n_test": int(len(self.split.test)),
            "device": str(self.device),
            "world_size": self.ctx.world_size,
            "encoder_backend": self.model.encoder.backend,
            "encoder_backend_fallback": self.model.encoder.backend_fallback,
            "amp_dtype": str(self.amp_dtype).removeprefix("torch.") if self.amp_dtype else None,
            "parameters": self.model.parameter_count(),
            "dataset_source": self.samples.source,
            "config": self.config.to_dict(),
        }
