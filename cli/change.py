"""``earth4d-gis change``: how much each pixel's embedding changed between two dates, or over a series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    OneLineCommand,
    open_sources,
    out_option,
    overwrite_option,
    run_options,
    run_with_progress,
    source_options,
)


@click.command("change", cls=OneLineCommand)
@source_options(multiple=True)
@out_option
@overwrite_option
@run_options
def command(**options: Any) -> None:
    """Map change between dates: 1 - cosine of each pixel's embeddings.

    Two --date (with --model, any dates: 2019-06-01 and 2023-06-01) or two --input rasters give bands
    `1 - cos` and the Earth Engine tutorial's visual `dot * -0.5 + 0.5`; three or more give the cumulative
    change and when the largest step happened (decimal year). A report of the share of the area changed
    beyond each threshold is written beside --out (.report.csv and .report.png).

    Example: earth4d-gis change --model final_model.pt --bbox -122.3 37.8 -122.2 37.9
    --date 2019-06-01 --date 2023-06-01 --out change.tif
    """
    mode = options.pop("progress_mode")
    out: Path = options.pop("out")
    run = {"workers": options.pop("workers"), "scheduler": options.pop("scheduler")}

    def work(progress: Any, bar: bool) -> Path:
        from earth4d_gis.analysis.change import change_to_files

        sources = open_sources(options, count="two-or-more")
        change_to_files(
            sources, out, overwrite=options["overwrite"], progress=progress, progress_bar=bar, **run
        )
        return out

    run_with_progress(mode, work)
