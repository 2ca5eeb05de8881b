"""``earth4d-gis zonal``: mean embedding per polygon or per cell of a coarser grid, as a GeoPackage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    FILE_PATH,
    OneLineCommand,
    UsageLineError,
    open_sources,
    out_option,
    overwrite_option,
    run_options,
    run_with_progress,
    source_options,
)


@click.command("zonal", cls=OneLineCommand)
@source_options()
@click.option("--zones", type=FILE_PATH, default=None, help="Polygons (any vector file, any CRS).")
@click.option(
    "--grid-size",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Instead of polygons: square cells of this size (in the source CRS's units, e.g. metres).",
)
@out_option
@overwrite_option
@run_options
def command(**options: Any) -> None:
    """Average the embeddings over polygons or grid cells, re-normalised to unit length.

    Writes a GeoPackage: the zones' attributes, pixel_count and columns A00..A63. The tiles are summed
    in this process, in --workers local processes or on a dask cluster (--scheduler), as in rasterize.

    Example: earth4d-gis zonal --input tile.tif --zones fields.gpkg --out field_means.gpkg
    """
    mode = options.pop("progress_mode")
    out: Path = options.pop("out")
    run = {"workers": options.pop("workers"), "scheduler": options.pop("scheduler")}

    def work(progress: Any, bar: bool) -> Path:
        from tqdm import tqdm

        from earth4d_gis.analysis.zonal import write_zonal, zonal_grid, zonal_polygons
        from earth4d_gis.files import check_output_path

        zones, grid_size = options["zones"], options["grid_size"]
        if (zones is None) == (grid_size is None):
            raise UsageLineError("give either --zones FILE or --grid-size SIZE")
        check_output_path(out, options["overwrite"])
        source = open_sources(options)[0]
        bar_ = tqdm(desc="zonal", unit="tile", disable=not bar, leave=False)

        def tick(done: int, total: int) -> None:
            bar_.total = total
            bar_.n = done
            bar_.refresh()
            if progress:
                progress(0.95 * done / max(1, total), f"tile {done} of {total}")

        try:
            if zones:
                frame = zonal_polygons(source, zones, tick, **run)
            else:
                frame = zonal_grid(source, grid_size, tick, **run)
        finally:
            bar_.close()
        return write_zonal(frame, out, overwrite=options["overwrite"])

    run_with_progress(mode, work)
