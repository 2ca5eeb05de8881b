"""``earth4d-gis rasterize``: a 64-band, int8 or RGB Cloud-optimised GeoTIFF for an area and date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    OneLineCommand,
    date_option,
    elevation_options,
    grid_options,
    model_option,
    out_option,
    overwrite_option,
    require_area,
    run_options,
    run_with_progress,
)


@click.command("rasterize", cls=OneLineCommand)
@model_option
@grid_options
@date_option()
@click.option(
    "--output",
    type=click.Choice(["embeddings", "rgb", "int8"]),
    default="embeddings",
    show_default=True,
    help="64 float32 bands A00..A63, 3 uint8 RGB bands, or the official int8 quantisation.",
)
@elevation_options
@out_option
@overwrite_option
@run_options
def command(
    model_path: Path,
    bbox: tuple[float, ...] | None,
    bbox_crs: Any,
    aoi: Path | None,
    crs: Any,
    resolution: float | None,
    width: int | None,
    height: int | None,
    date: Any,
    output: str,
    dem: Path | None,
    elevation: float | None,
    out: Path,
    overwrite: bool,
    max_pixels: int,
    workers: int,
    scheduler: str | None,
    progress_mode: str,
) -> None:
    """Write the model's AlphaEarth prediction for an area and date as a Cloud-optimised GeoTIFF.

    Example: earth4d-gis rasterize --model final_model.pt --bbox -122.5 37.7 -122.4 37.8
    --date 2024-06-01 --out sf.tif
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
        output=output,
        dem=dem,
        elevation=elevation,
        overwrite=overwrite,
        max_pixels=max_pixels,
        workers=workers,
        scheduler=scheduler,
    )


def rasterize_with_progress(
    progress_mode: str, model_path: Path, out: Path, bbox: Any, aoi: Path | None, **options: Any
) -> None:
    """Run the core ``rasterize`` with the CLI's progress reporting (shared by rasterize and similarity)."""
    area = require_area(bbox, aoi)

    def work(progress: Any, bar: bool) -> Path:
        from earth4d_gis.raster import rasterize

        return rasterize(model_path, out, bbox=area, aoi=aoi, progress=progress, progress_bar=bar, **options)

    run_with_progress(progress_mode, work)
