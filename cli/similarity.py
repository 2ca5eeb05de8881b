"""``earth4d-gis similarity``: a one-band map of cosine similarity to the embedding at a point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    FLOAT,
    OneLineCommand,
    date_option,
    elevation_options,
    grid_options,
    model_option,
    out_option,
    overwrite_option,
    run_options,
)
from .rasterize import rasterize_with_progress


@click.command("similarity", cls=OneLineCommand)
@model_option
@click.option(
    "--point", nargs=2, type=FLOAT, required=True, metavar="LAT LON", help="The reference place (degrees)."
)
@grid_options
@date_option()
@elevation_options
@out_option
@overwrite_option
@run_options
def command(
    model_path: Path,
    point: tuple[float, float],
    bbox: tuple[float, ...] | None,
    bbox_crs: Any,
    aoi: Path | None,
    crs: Any,
    resolution: float | None,
    width: int | None,
    height: int | None,
    date: Any,
    dem: Path | None,
    elevation: float | None,
    out: Path,
    overwrite: bool,
    max_pixels: int,
    workers: int,
    scheduler: str | None,
    progress_mode: str,
) -> None:
    """Map how alike every pixel is to a reference place: cosine similarity of embeddings (float32).

    Example: earth4d-gis similarity --model final_model.pt --point 37.77 -122.45
    --bbox -122.6 37.6 -122.3 37.9 --date 2024 --out sim.tif
    """
    rasterize_with_progress(
        progress_mode,
        model_path,
        out,
        bbox,
        aoi,
        date=date,
        bbox_crs=bbox_crs,
        crs=crs,
        resolution=resolution,
        width=width,
        height=height,
        output="similarity",
        point=point,
        dem=dem,
        elevation=elevation,
        overwrite=overwrite,
        max_pixels=max_pixels,
        workers=workers,
        scheduler=scheduler,
    )
