"""Training options: one dataclass shared by the CLI, the benchmark and the Python API."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..encoder.config import EncoderConfig
from ..errors import InputError
from ..geodesy import TimeSpan

DEVICES = ("auto", "cpu", "cuda")
TABLE_OPTIMIZERS = ("auto", "lazy", "dense")


@dataclass
class TrainConfig:
    """Everything that shapes a training run (defaults follow the original pipeline where it had one)."""

    output_dir: Path = Path("./earth4d_alphaearth_outputs")
    epochs: int = 100
    batch_size: int = 4000
    learning_rate: float = 2e-3
    table_lr_scale: float = 1.0
    """The hash tables learn at ``learning_rate`` times this (Instant-NGP: tables ~10x the MLP)."""
    train_split: float = 0.95
    test_min_distance_m: float = 0.0
    """Leave out of training every sample closer than this (metres) to a test point (0: a plain split)."""
    validation_fraction: float = 0.05
    """Share of the training part held out to drive the learning-rate schedule and early stopping."""
    seed: int = 42
    device: str = "auto"
    preset: str = "default"
    encoder_spec: dict[str, Any] | None = None
    """A preset-style encoder definition (see ``encoder.presets``) used instead of ``preset``."""
    hidden: tuple[int, ...] = (128, 128)
    dropout: float = 0.0
    backend: str | None = None
    grad_clip: float = 1.0
    weight_decay: float = 0.0
    """Decoupled weight decay of the decoder weights."""
    cosine_weight: float = 1.0
    """Weight of (1 - cosine similarity) added to the mean squared error."""
    l1_weight: float = 0.0
    """Weight of the mean absolute error (what MAPE measures) added to the mean squared error."""
    neighbours: int = 32
    """Blend the network's prediction with this many nearest training samples, kept in the model file
    (int8 embeddings): next to the samples their own values beat any compact network (0: field only)."""
    blend_fraction: float = 0.2
    """Share of the training rows that teach the neighbour blend and never the network (stacking): at
    rows the network learned from, its prediction is nearly the sample itself, so a blend taught there
    would trust the network far more than it deserves at new places. The rest teach the network."""
    table_optimizer: str = "auto"
    """'lazy' updates only table rows a batch touched; 'dense' is plain Adam; 'auto' picks by device."""
    patience: int = 8
    """Stop after this many epochs without a better validation loss (0: never stop early)."""
    warmup_steps: int = 100
    """Steps of linear learning-rate warm-up before the cosine decay over the budget."""
    amp: bool = True
    """Mixed precision for the decoder on CUDA (coordinates and encoder stay full precision)."""
    time_limit: float | None = None
    """Stop training after this many seconds (the current epoch is cut short and evaluated)."""
    checkpoint_every: int = 10
    prediction_samples: int = 1000
    visualize_every: int = 1
    make_video: bool = True
    eval_batch_size: int = 65536
    skip_nan_test: bool = False
    resume: bool = False
    overwrite: bool = False
    progress: bool = True

    def validate(self) -> TrainConfig:
        """Raise ``InputError`` naming the first bad option; returns self."""
        checks = [
            (self.epochs >= 1, f"--epochs {self.epochs} must be at least 1"),
            (self.batch_size >= 1, f"--batch-size {self.batch_size} must be at least 1"),
            (self.learning_rate > 0, f"--learning-rate {self.learning_rate} must be positive"),
            (self.table_lr_scale > 0, f"table_lr_scale {self.table_lr_scale} must be positive"),
            (
                0.0 < self.train_split < 1.0,
                f"--train-split {self.train_split} must lie strictly between 0 and 1",
            ),
            (
                0.0 < self.validation_fraction < 1.0,
                f"--validation-fraction {self.validation_fraction} must lie strictly between 0 and 1",
            ),
            (self.device in DEVICES, f"--device {self.device!r} is not one of {', '.join(DEVICES)}"),
            (all(w >= 1 for w in self.hidden), f"--hidden {self.hidden} needs positive widths"),
            (0.0 <= self.dropout < 1.0, f"--dropout {self.dropout} must lie in [0, 1)"),
            (self.grad_clip >= 0, f"--grad-clip {self.grad_clip} must not be negative"),
            (self.weight_decay >= 0, f"--weight-decay {self.weight_decay} must not be negative"),
            (
                self.test_min_distance_m >= 0,
                f"test_min_distance {self.test_min_distance_m} must not be negative",
            ),
            (self.neighbours >= 0, f"--neighbours {self.neighbours} must not be negative"),
            (
                0.0 < self.blend_fraction < 1.0,
                f"--blend-fraction {self.blend_fraction} must lie strictly between 0 and 1",
            ),
            (self.cosine_weight >= 0, f"--cosine-weight {self.cosine_weight} must not be negative"),
            (self.l1_weight >= 0, f"--l1-weight {self.l1_weight} must not be negative"),
            (
                self.table_optimizer in TABLE_OPTIMIZERS,
                f"--table-optimizer {self.table_optimizer!r} is not one of {', '.join(TABLE_OPTIMIZERS)}",
            ),
            (self.patience >= 0, f"--patience {self.patience} must not be negative"),
            (self.warmup_steps >= 0, f"--warmup-steps {self.warmup_steps} must not be negative"),
            (
                self.time_limit is None or self.time_limit > 0,
                f"--time-limit {self.time_limit} must be positive",
            ),
            (self.checkpoint_every >= 1, f"--checkpoint-every {self.checkpoint_every} must be at least 1"),
            (
                self.prediction_samples >= 0,
                f"--prediction-samples {self.prediction_samples} must not be negative",
            ),
            (self.visualize_every >= 0, f"--visualize-every {self.visualize_every} must not be negative"),
            (not (self.resume and self.overwrite), "--resume and --overwrite cannot be combined"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values (stored in checkpoints and metrics.json)."""
        d = dataclasses.asdict(self)
        d["output_dir"] = str(self.output_dir)
        d["hidden"] = list(self.hidden)
        return d

    def architecture(self) -> dict[str, Any]:
        """The options that must match for ``--resume`` to continue a run."""
        return {
            "preset": self.preset,
            "encoder_spec": self.encoder_spec,
            "hidden": list(self.hidden),
            "dropout": self.dropout,
            "neighbours": self.neighbours,
        }

    def encoder_config(self, time_span: TimeSpan) -> EncoderConfig:
        """The encoder configuration: ``encoder_spec`` when given, else the named preset."""
        if self.encoder_spec is not None:
            return EncoderConfig.from_spec("custom", self.encoder_spec, time_span)
        return EncoderConfig.preset(self.preset, time_span)
