"""``earth4d-gis sample``: the predicted 64-D embedding at each point of a vector layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    VECTOR_PATH,
    OneLineCommand,
    UsageLineError,
    date_option,
    elevation_options,
    model_option,
    out_option,
    overwrite_option,
)


@click.command("sample", cls=OneLineCommand)
@model_option
@click.option(
    "--points",
    required=True,
    type=VECTOR_PATH,
    help="Points: any vector file or folder (.gpkg, .shp, .gdb, ...), or a CSV with lat/lon columns.",
)
@click.option("--layer", default=None, help="Layer of a multi-layer points file.")
@date_option(required=False)
@click.option("--date-column", default=None, help="Column holding each point's date (instead of --date).")
@elevation_options
@out_option
@overwrite_option
def command(
    model_path: Path,
    points: Path,
    layer: str | None,
    date: Any,
    date_column: str | None,
    dem: Path | None,
    elevation: float | None,
    out: Path,
    overwrite: bool,
) -> None:
    """Add columns A00..A63 (the predicted embedding) to each point and write .gpkg/.geojson/.fgb/.parquet.

    Example: earth4d-gis sample --model final_model.pt --points sites.gpkg --date 2024 --out sites_emb.gpkg
    """
    if (date is None) == (date_column is None):
        raise UsageLineError("give either --date or --date-column")
    from earth4d_gis.raster import sample_points

    path = sample_points(
        model_path,
        points,
        out,
        date=date,
        date_column=date_column,
        dem=dem,
        elevation=elevation,
        overwrite=overwrite,
        layer=layer,
    )
    click.echo(str(path))
