"""``earth4d-gis similarity``: cosine similarity to one or several seed places, and a threshold mask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    FILE_PATH,
    FLOAT,
    OneLineCommand,
    open_sources,
    out_option,
    overwrite_option,
    run_options,
    run_with_progress,
    source_options,
)


@click.command("similarity", cls=OneLineCommand)
@source_options()
@click.option(
    "--point",
    "points",
    nargs=2,
    type=FLOAT,
    multiple=True,
    metavar="LAT LON",
    help="A seed place (degrees). Repeat for several.",
)
@click.option(
    "--seeds",
    type=FILE_PATH,
    default=None,
    help="Seed points or polygons (any vector file, any CRS): every pixel inside a polygon counts.",
)
@click.option(
    "--reduce",
    type=click.Choice(["mean", "medoid"]),
    default="mean",
    show_default=True,
    help="How several seeds' embeddings become one reference: normalised mean, or medoid.",
)
@click.option(
    "--threshold",
    type=FLOAT,
    default=None,
    help="Also write a mask (1 where similarity >= THRESHOLD) beside --out (.mask.tif).",
)
@click.option(
    "--mask", "mask_out", type=FILE_PATH, default=None, help="Mask file (default: OUT with .mask.tif)."
)
@out_option
@overwrite_option
@run_options
def command(**options: Any) -> None:
    """Map how alike every pixel is to seed places: cosine similarity of embeddings (float32).

    Example: earth4d-gis similarity --model final_model.pt --point 37.77 -122.45
    --bbox -122.6 37.6 -122.3 37.9 --date 2024 --out sim.tif
    """
    mode = options.pop("progress_mode")
    out: Path = options.pop("out")
    run = {"workers": options.pop("workers"), "scheduler": options.pop("scheduler")}

    def work(progress: Any, bar: bool) -> Path:
        from earth4d_gis.analysis.similarity import similarity_to_files

        source = open_sources(options)[0]
        similarity_to_files(
            source, out, points=list(options["points"]), seeds=options["seeds"], reduce=options["reduce"],
            threshold=options["threshold"], mask_out=options["mask_out"], overwrite=options["overwrite"],
            progress=progress, progress_bar=bar, **run,
        )  # fmt: skip
        return out

    run_with_progress(mode, work)
