"""``earth4d-gis train``: the AlphaEarth training pipeline (the original's options, minus its defects)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from earth4d_gis.errors import InputError
from earth4d_gis.train.config import TrainConfig

from .options import FLOAT, OneLineCommand

DEFAULTS = TrainConfig()
"""The core's defaults: every option that sets a ``TrainConfig`` field shows and uses its default."""

DEMO_DEFAULT_SAMPLES = 200_000


def _widths(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in value.replace(" ", "").split(",") if w)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers") from None
    if not widths or min(widths) < 1:
        raise click.BadParameter(f"{value!r} needs at least one positive width")
    return widths


@click.command("train", cls=OneLineCommand, context_settings={"max_content_width": 110})
@click.option(
    "--dataset",
    type=click.Choice(["alphaearth", "demo"]),
    default="alphaearth",
    show_default=True,
    help="alphaearth: download the AlphaEarth sample dataset (3.2M samples) into --data-dir if it is "
    "not there; demo: the built-in synthetic world (no download). Ignored when --metadata/--embeddings "
    "are given.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/alphaearth"),
    show_default=True,
    help="Where the AlphaEarth files are (or are downloaded to).",
)
@click.option("--force-download", is_flag=True, help="Download the AlphaEarth files again even if present.")
@click.option(
    "--metadata",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your own metadata (CSV or Parquet with latitude, longitude, elevation_m, event_date).",
)
@click.option(
    "--embeddings",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your own embeddings, row-aligned with --metadata (.pt or .npy, [N, 64], float or int8).",
)
@click.option(
    "--quantization",
    type=click.Choice(["linear127", "aef"]),
    default=None,
    help="How int8 embeddings decode: linear127 = q/127 (the original tensor), aef = sign(q)(q/127.5)^2 "
    "(official AlphaEarth rasters). Required for int8 files of your own.",
)
@click.option(
    "--drop-invalid", is_flag=True, help="Drop invalid rows (and say how many) instead of stopping."
)
@click.option(
    "--epochs", type=int, default=DEFAULTS.epochs, show_default=True, help="Number of training epochs."
)
@click.option(
    "--batch-size",
    type=int,
    default=DEFAULTS.batch_size,
    show_default=True,
    help="Samples per training step.",
)
@click.option(
    "--learning-rate",
    type=FLOAT,
    default=DEFAULTS.learning_rate,
    show_default=True,
    help="Peak Adam learning rate.",
)
@click.option(
    "--train-split",
    type=FLOAT,
    default=DEFAULTS.train_split,
    show_default=True,
    help="Share of samples used for training; the rest is the test set (reported, never trained or "
    "tuned on).",
)
@click.option(
    "--validation-fraction",
    type=FLOAT,
    default=DEFAULTS.validation_fraction,
    show_default=True,
    help="Share of the training part held out for early stopping and the choice of the best epoch.",
)
@click.option(
    "--max-samples",
    type=int,
    default=None,
    help=f"Use at most this many samples (a seeded random subset); for --dataset demo, the number of "
    f"samples generated (default {DEMO_DEFAULT_SAMPLES:,}).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default=DEFAULTS.device,
    show_default=True,
    help="auto: the GPU when torch sees one, else the CPU. CUDA is never required.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=DEFAULTS.seed,
    show_default=True,
    help="Random seed (split, initialisation, batches).",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULTS.output_dir,
    show_default=True,
    help="Folder for checkpoints/, predictions/, visualizations/, final_model.pt and metrics.json.",
)
@click.option(
    "--skip-nan-test",
    is_flag=True,
    help="Skip the check before training that reports samples with a non-finite target or model output.",
)
@click.option("--resume", is_flag=True, help="Continue from checkpoints/last.pt in --output-dir.")
@click.option("--overwrite", is_flag=True, help="Start over in an --output-dir that holds a previous run.")
@click.option(
    "--preset",
    type=click.Choice(["default", "seed-162d"]),
    default=DEFAULTS.preset,
    show_default=True,
    help="Encoder preset (see `earth4d-gis encoder-info`); seed-162d is the original 162-D encoder "
    "(GPU-sized).",
)
@click.option(
    "--hidden",
    default=",".join(str(w) for w in DEFAULTS.hidden),
    show_default=True,
    callback=_widths,
    help="Decoder hidden widths, comma-separated (each: Linear, LayerNorm, GELU, Dropout).",
)
@click.option("--dropout", type=FLOAT, default=DEFAULTS.dropout, show_default=True, help="Decoder dropout.")
@click.option(
    "--test-min-distance",
    type=click.FloatRange(min=0.0),
    default=DEFAULTS.test_min_distance_m,
    show_default=True,
    help="Leave out of training every sample closer than this many metres to a test point, so the test "
    "score says how the model does where map pixels are: away from the samples (0: a plain random split).",
)
@click.option(
    "--neighbours",
    type=int,
    default=DEFAULTS.neighbours,
    show_default=True,
    help="Blend the network's prediction with this many nearest training samples, which the model file "
    "keeps (int8): next to the samples their own values are worth more than any compact network; learned "
    "weights decide how much each counts (0: the network alone).",
)
@click.option(
    "--blend-fraction",
    type=FLOAT,
    default=DEFAULTS.blend_fraction,
    show_default=True,
    help="Share of the training samples that teach the neighbour blend and never the network: where the "
    "network has learned a sample it predicts almost that sample, so a blend taught there would trust the "
    "network too much at new places. Must lie strictly between 0 and 1.",
)
@click.option(
    "--warmup-steps",
    type=int,
    default=DEFAULTS.warmup_steps,
    show_default=True,
    help="Steps of linear learning-rate warm-up; then the rate follows a cosine over the epochs or the time "
    "limit, whichever ends first.",
)
@click.option(
    "--weight-decay",
    type=FLOAT,
    default=DEFAULTS.weight_decay,
    show_default=True,
    help="Decoder weight decay.",
)
@click.option(
    "--cosine-weight",
    type=FLOAT,
    default=DEFAULTS.cosine_weight,
    show_default=True,
    help="Weight of (1 - cosine similarity) added to the squared-error loss.",
)
@click.option(
    "--l1-weight",
    type=FLOAT,
    default=DEFAULTS.l1_weight,
    show_default=True,
    help="Weight of the mean absolute error (what MAPE measures) added to the squared-error loss.",
)
@click.option(
    "--grad-clip",
    type=FLOAT,
    default=DEFAULTS.grad_clip,
    show_default=True,
    help="Gradient norm clip (0: off).",
)
@click.option(
    "--patience",
    type=int,
    default=DEFAULTS.patience,
    show_default=True,
    help="Stop after this many epochs without a better validation loss (0: never stop early).",
)
@click.option(
    "--time-limit",
    type=FLOAT,
    default=None,
    help="Stop training after this many minutes (the current epoch is cut short and evaluated).",
)
@click.option(
    "--checkpoint-every",
    type=int,
    default=DEFAULTS.checkpoint_every,
    show_default=True,
    help="Write checkpoints/checkpoint_epoch_N.pt every N epochs (last.pt is written every epoch).",
)
@click.option(
    "--prediction-samples",
    type=int,
    default=DEFAULTS.prediction_samples,
    show_default=True,
    help="Size of the fixed test subset saved in predictions/epoch_N.csv.",
)
@click.option(
    "--visualize-every",
    type=int,
    default=DEFAULTS.visualize_every,
    show_default=True,
    help="Draw the Bay Area maps every N epochs (0: never).",
)
@click.option("--no-video", is_flag=True, help="Do not make training_progression.mp4 at the end.")
@click.option(
    "--backend",
    type=click.Choice(["auto", "cpu", "cuda", "reference"]),
    default="auto",
    show_default=True,
    help="Encoder backend (auto: cuda for GPU tensors, else the C++ CPU kernel, falling back to the slow "
    "reference with a warning if that fails to build). A backend named here (or by --device cuda) that "
    "cannot run is an error.",
)
@click.option(
    "--table-optimizer",
    type=click.Choice(["auto", "lazy", "dense"]),
    default=DEFAULTS.table_optimizer,
    show_default=True,
    help="Hash-table updates: lazy (only rows a batch touched) or dense fused Adam; auto picks lazy only for "
    "tables much larger than a batch can touch.",
)
def command(**opts: object) -> None:
    """Train an Earth4D model of the AlphaEarth embedding field (or the demo world, or your own files).

    Writes the original pipeline's output layout in --output-dir: checkpoints/, predictions/,
    visualizations/ (Bay Area maps per epoch), training_curves.png, final_model.pt, metrics.json (with
    the zeros, mean-vector and kNN baselines on the same test set) and training_progression.mp4.
    Multi-GPU or multi-node: run it under `torchrun --nproc-per-node N earth4d-gis train ...`.

    Ctrl-C or SIGTERM stops it (exit status 130 or 143); --resume continues from the last finished epoch
    (checkpoints/last.pt); stopped before the first epoch finished, the same command starts afresh.
    """
    from tqdm.contrib.logging import logging_redirect_tqdm

    from earth4d_gis.files import check_output_folder
    from earth4d_gis.train import train

    backend = None if opts["backend"] == "auto" else opts["backend"]
    _check_device_and_backend(opts["device"], backend)
    time_limit = opts["time_limit"]
    if time_limit is not None and not time_limit > 0:
        raise InputError(f"--time-limit {time_limit:g} must be a positive number of minutes")
    config = TrainConfig(
        output_dir=opts["output_dir"],
        epochs=opts["epochs"],
        batch_size=opts["batch_size"],
        learning_rate=opts["learning_rate"],
        train_split=opts["train_split"],
        validation_fraction=opts["validation_fraction"],
        seed=opts["seed"],
        device=opts["device"],
        preset=opts["preset"],
        hidden=opts["hidden"],
        dropout=opts["dropout"],
        neighbours=opts["neighbours"],
        test_min_distance_m=opts["test_min_distance"],
        blend_fraction=opts["blend_fraction"],
        warmup_steps=opts["warmup_steps"],
        backend=backend,
        grad_clip=opts["grad_clip"],
        weight_decay=opts["weight_decay"],
        cosine_weight=opts["cosine_weight"],
        l1_weight=opts["l1_weight"],
        table_optimizer=opts["table_optimizer"],
        patience=opts["patience"],
        time_limit=None if time_limit is None else float(time_limit) * 60.0,
        checkpoint_every=opts["checkpoint_every"],
        prediction_samples=opts["prediction_samples"],
        visualize_every=opts["visualize_every"],
        make_video=not opts["no_video"],
        skip_nan_test=opts["skip_nan_test"],
        resume=opts["resume"],
        overwrite=opts["overwrite"],
    ).validate()
    check_output_folder(config.output_dir, create=False)
    samples, world = _load_data(opts)
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


def _load_data(opts: dict) -> tuple[object, object]:
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
        return data.make_demo_dataset(
            max_samples or DEMO_DEFAULT_SAMPLES, seed=opts["seed"], world=world
        ), world
    samples = data.load_alphaearth(
        opts["data_dir"],
        force_download=opts["force_download"],
        quantization=opts["quantization"],
        drop_invalid=opts["drop_invalid"],
        max_samples=max_samples,
    )
    return samples, None
