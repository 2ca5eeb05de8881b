"""Training options: one dataclass shared by the CLI, the benchmark and the Python API."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..encoder.backends import BACKENDS
from ..encoder.config import EncoderConfig
from ..encoder.presets import PRESETS
from ..errors import InputError
from ..geodesy import TimeSpan
from ..settings import (
    AT_LEAST_ONE,
    FRACTION,
    NOT_NEGATIVE,
    POSITIVE,
    PROBABILITY_BELOW_ONE,
    Check,
    check_settings,
    setting,
)

DEVICES = ("auto", "cpu", "cuda")
TABLE_OPTIMIZERS = ("auto", "lazy", "dense")
PRESET_NAMES = tuple(sorted(PRESETS))

RUN, SPLIT, MODEL, OPTIMISATION, OUTPUTS = "Run", "Split", "Model", "Optimisation", "Outputs"
"""The groups of settings (sections of ``earth4d-gis train --help``), in that order."""

WIDTHS = Check(lambda v: all(w >= 1 for w in v), "needs positive widths")
SEED = Check(lambda v: 0 <= v < 2**63, "must lie in [0, 2**63)")


@dataclass
class TrainConfig:
    """Everything that shapes a training run (defaults follow the original pipeline where it had one).

    Each field's help text, group and valid values live with it (``settings.setting``); the command line's
    ``train`` options are built from them.
    """

    output_dir: Path = setting(
        Path("./earth4d_alphaearth_outputs"),
        "Folder for checkpoints/, predictions/, visualizations/, final_model.pt and metrics.json.",
        group=RUN,
    )
    resume: bool = setting(False, "Continue from checkpoints/last.pt in ``output_dir``.", group=RUN)
    overwrite: bool = setting(False, "Start over in an ``output_dir`` that holds a previous run.", group=RUN)
    device: str = setting(
        "auto",
        "auto: the GPU when torch sees one, else the CPU. CUDA is never required.",
        group=RUN,
        choices=DEVICES,
    )
    backend: str | None = setting(
        None,
        "Encoder backend (auto: cuda for GPU tensors, else the C++ CPU kernel, falling back to the slow "
        "reference with a warning if that fails to build; the EARTH4D_BACKEND environment variable can name "
        "one). A backend named here (or implied by ``device`` cuda) that cannot run is an error.",
        group=RUN,
        choices=BACKENDS,
        none_word="auto",
    )
    seed: int = setting(42, "Random seed (split, initialisation, batches).", group=RUN, check=SEED)

    train_split: float = setting(
        0.95,
        "Share of samples used for training; the rest is the test set (reported, never trained or tuned on).",
        group=SPLIT,
        check=FRACTION,
    )
    validation_fraction: float = setting(
        0.05,
        "Share of the training part held out for early stopping and the choice of the best epoch.",
        group=SPLIT,
        check=FRACTION,
    )
    test_min_distance_m: float = setting(
        0.0,
        "Leave out of training every sample closer than this many metres to a test point, so the test score "
        "says how the model does where map pixels are: away from the samples (0: a plain random split).",
        group=SPLIT,
        check=NOT_NEGATIVE,
        flag="--test-min-distance",
        metavar="METRES",
    )

    preset: str = setting(
        "default",
        "Encoder preset; seed-162d is the original 162-D encoder (GPU-sized).",
        group=MODEL,
        choices=PRESET_NAMES,
    )
    encoder_spec: dict[str, Any] | None = setting(
        None,
        "A preset-style encoder definition (see ``encoder.presets``) used instead of ``preset``.",
        group=MODEL,
        option=False,
    )
    hidden: tuple[int, ...] = setting(
        (128, 128),
        "Decoder hidden widths (each: Linear, LayerNorm, GELU, Dropout).",
        group=MODEL,
        check=WIDTHS,
    )
    dropout: float = setting(0.0, "Decoder dropout.", group=MODEL, check=PROBABILITY_BELOW_ONE)
    neighbours: int = setting(
        32,
        "Blend the network's prediction with this many nearest training samples, which the model file keeps "
        "(int8): next to the samples their own values are worth more than any compact network; learned "
        "weights decide how much each counts (0: the network alone).",
        group=MODEL,
        check=NOT_NEGATIVE,
    )
    blend_fraction: float = setting(
        0.2,
        "Share of the training samples that teach the neighbour blend and never the network: where the "
        "network has learned a sample it predicts almost that sample, so a blend taught there would trust "
        "the network too much at new places. Must lie strictly between 0 and 1.",
        group=MODEL,
        check=FRACTION,
    )

    epochs: int = setting(100, "Number of training epochs.", group=OPTIMISATION, check=AT_LEAST_ONE)
    batch_size: int = setting(4000, "Samples per training step.", group=OPTIMISATION, check=AT_LEAST_ONE)
    learning_rate: float = setting(2e-3, "Peak Adam learning rate.", group=OPTIMISATION, check=POSITIVE)
    table_lr_scale: float = setting(
        1.0,
        "The hash tables learn at ``learning_rate`` times this (Instant-NGP: tables ~10x the decoder).",
        group=OPTIMISATION,
        check=POSITIVE,
    )
    table_optimizer: str = setting(
        "auto",
        "Hash-table updates: lazy (only rows a batch touched) or dense fused Adam; auto picks lazy only for "
        "tables much larger than a batch can touch.",
        group=OPTIMISATION,
        choices=TABLE_OPTIMIZERS,
    )
    warmup_steps: int = setting(
        100,
        "Steps of linear learning-rate warm-up; then the rate follows a cosine over ``epochs`` or "
        "``time_limit``, whichever ends first.",
        group=OPTIMISATION,
        check=NOT_NEGATIVE,
    )
    weight_decay: float = setting(
        0.0, "Decoupled weight decay of the decoder weights.", group=OPTIMISATION, check=NOT_NEGATIVE
    )
    cosine_weight: float = setting(
        1.0,
        "Weight of (1 - cosine similarity) added to the squared-error loss.",
        group=OPTIMISATION,
        check=NOT_NEGATIVE,
    )
    l1_weight: float = setting(
        0.0,
        "Weight of the mean absolute error (what MAPE measures) added to the squared-error loss.",
        group=OPTIMISATION,
        check=NOT_NEGATIVE,
    )
    patience: int = setting(
        8,
        "Stop after this many epochs without a better validation loss (0: never stop early).",
        group=OPTIMISATION,
        check=NOT_NEGATIVE,
    )
    time_limit: float | None = setting(
        None,
        "Stop training after this much time (the current epoch is cut short and evaluated).",
        group=OPTIMISATION,
        check=POSITIVE,
        metavar="MINUTES",
        scale=60.0,
    )
    """Seconds (the command line takes minutes: ``scale``)."""
    amp: bool = setting(
        True,
        "Mixed precision for the decoder on CUDA (coordinates and encoder stay full precision).",
        group=OPTIMISATION,
    )

    checkpoint_every: int = setting(
        10,
        "Write checkpoints/checkpoint_epoch_N.pt every N epochs (last.pt is written every epoch).",
        group=OUTPUTS,
        check=AT_LEAST_ONE,
    )
    prediction_samples: int = setting(
        1000,
        "Size of the fixed test subset saved in predictions/epoch_N.csv.",
        group=OUTPUTS,
        check=NOT_NEGATIVE,
    )
    visualize_every: int = setting(
        1, "Draw the Bay Area maps every N epochs (0: never).", group=OUTPUTS, check=NOT_NEGATIVE
    )
    make_video: bool = setting(
        True,
        "Make training_progression.mp4 from the maps at the end.",
        group=OUTPUTS,
        flag="--video/--no-video",
    )
    eval_batch_size: int = setting(
        65536,
        "Samples per forward pass outside training (validation, test, the non-finite check): memory, not "
        "results.",
        group=OUTPUTS,
        check=AT_LEAST_ONE,
    )
    skip_nan_test: bool = setting(
        False,
        "Skip the check before training that reports samples with a non-finite target or model output.",
        group=OUTPUTS,
    )
    progress: bool = setting(True, "Progress bars on stderr.", group=OUTPUTS, option=False)

    def validate(self) -> TrainConfig:
        """Self, or ``InputError`` naming the first bad setting (``epochs=0 must be at least 1``)."""
        check_settings(self)
        if self.resume and self.overwrite:
            raise InputError("resume=True and overwrite=True cannot be combined")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values (stored in checkpoints and metrics.json)."""
        d = dataclasses.asdict(self)
        d["output_dir"] = str(self.output_dir)
        d["hidden"] = list(self.hidden)
        return d

    def architecture(self) -> dict[str, Any]:
        """The settings that must match for ``resume`` to continue a run."""
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
