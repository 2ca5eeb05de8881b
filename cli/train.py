"""``earth4d-gis train``: the AlphaEarth training pipeline (the original's options, minus its defects)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from earth4d_gis.errors import InputError
from earth4d_gis.train.config import TrainConfig

from .field_options import SectionedCommand, SectionedOption, config_from_options, field_options

DEMO_DEFAULT_SAMPLES = 200_000
DATA = "Data"
"""The help section of the options that choose the samples (not ``TrainConfig`` settings)."""


@click.command("train", cls=SectionedCommand, context_settings={"max_content_width": 110})
@click.option(
    "--dataset",
    cls=SectionedOption,
    section=DATA,
    type=click.Choice(["alphaearth", "demo"]),
    default="alphaearth",
    show_default=True,
    help="alphaearth: download the AlphaEarth sample dataset (3.2M samples) into --data-dir if it is "
    "not there; demo: the built-in synthetic world (no download). Ignored when --metadata/--embeddings "
    "are given.",
)
@click.option(
    "--data-dir",
    cls=SectionedOption,
    section=DATA,
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/alphaearth"),
    show_default=True,
    help="Where the AlphaEarth files are (or are downloaded to).",
)
@click.option(
    "--force-download",
    cls=SectionedOption,
    section=DATA,
    is_flag=True,
    help="Download the AlphaEarth files again even if present.",
)
@click.option(
    "--metadata",
    cls=SectionedOption,
    section=DATA,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your own metadata (CSV or Parquet with latitude, longitude, elevation_m, event_date).",
)
@click.option(
    "--embeddings",
    cls=SectionedOption,
    section=DATA,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your own embeddings, row-aligned with --metadata (.pt or .npy, [N, 64], float or int8).",
)
@click.option(
    "--quantization",
    cls=SectionedOption,
    section=DATA,
    type=click.Choice(["linear127", "aef"]),
    default=None,
    help="How int8 embeddings decode: linear127 = q/127 (the original tensor), aef = sign(q)(q/127.5)^2 "
    "(official AlphaEarth rasters). Required for int8 files of your own.",
)
@click.option(
    "--drop-invalid",
    cls=SectionedOption,
    section=DATA,
    is_flag=True,
    help="Drop invalid rows (and say how many) instead of stopping.",
)
@click.option(
    "--max-samples",
    cls=SectionedOption,
    section=DATA,
    type=int,
    default=None,
    help=f"Use at most this many samples (a seeded random subset); for --dataset demo, the number of "
    f"samples generated (default {DEMO_DEFAULT_SAMPLES:,}).",
)
@field_options(TrainConfig)
def command(**opts: object) -> None:
    """Train an Earth4D model of the AlphaEarth embedding field (or the demo world, or your own files).

    Writes the original pipeline's output layout in --output-dir: checkpoints/, predictions/,
    visualizations/ (Bay Area maps per epoch), training_curves.png, final_model.pt, metrics.json (with
    the zeros, mean-vector and kNN baselines on the same test set) and training_progression.mp4.
    Multi-GPU or multi-node: run it under `torchrun --nproc-per-node N earth4d-gis train ...`.
    `earth4d-gis encoder-info` describes the encoder presets.

    Ctrl-C or SIGTERM stops it (exit status 130 or 143); --resume continues from the last finished epoch
    (checkpoints/last.pt); stopped before the first epoch finished, the same command starts afresh.
    """
    from tqdm.contrib.logging import logging_redirect_tqdm

    from earth4d_gis.files import check_output_folder
    from earth4d_gis.train import train

    config = config_from_options(command, TrainConfig, opts).validate()
    _check_device_and_backend(config.device, config.backend)
    check_output_folder(config.output_dir, create=False)
    samples, world = _load_data(opts, config.seed)
    with logging_redirect_tqdm():
        result = train(config, samples, world=world)
    if result.model_path is not None:
        model = result.metrics["model"]
        click.echo(
            f"test set: MAPE {model['mape']:.3f}%, mean cosine {model['cosine']:.4f}, "
            f"R2 {model['r2_mean']:.4f}; {result.metrics['verdict']}"
        )
        click.echo(f"model: {result.model_path}")


def _check_device_and_backend(device: str, backend: str | None) -> None:
    """Before any data is loaded: --device cuda needs a GPU, and a backend asked for by name (--backend,
    EARTH4D_BACKEND, or cuda for --device cuda) must build here; else a one-line error with the reason."""
    from earth4d_gis.encoder.backends import check_backend, implied_backend
    from earth4d_gis.train.distributed import resolve_device

    resolve_device(device)
    check_backend(implied_backend(backend, device))


def _load_data(opts: dict, seed: int) -> tuple[object, object]:
    """The samples to train on (and the demo world when it is the demo dataset)."""
    from earth4d_gis import data

    metadata, embeddings = opts["metadata"], opts["embeddings"]
    max_samples = opts["max_samples"]
    if max_samples is not None and max_samples < 1:
        raise InputError(f"--max-samples {max_samples} must be at least 1")
    if (metadata is None) != (embeddings is None):
        missing = "--embeddings" if embeddings is None else "--metadata"
        raise InputError(f"{missing} is needed too: your own data is a metadata file and an embeddings file")
    if metadata is not None:
        samples = data.load_samples(
            metadata,
            embeddings,
            quantization=opts["quantization"],
            drop_invalid=opts["drop_invalid"],
            max_samples=max_samples,
        )
        return samples, None
    if opts["dataset"] == "demo":
        world = data.DemoWorld()
        logging.getLogger(__name__).info("generating the demo world's samples")
        return data.make_demo_dataset(max_samples or DEMO_DEFAULT_SAMPLES, seed=seed, world=world), world
    samples = data.load_alphaearth(
        opts["data_dir"],
        force_download=opts["force_download"],
        quantization=opts["quantization"],
        drop_invalid=opts["drop_invalid"],
        max_samples=max_samples,
    )
    return samples, None
