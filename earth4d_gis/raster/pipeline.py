"""``rasterize``: a model, an area and a date in; a validated Cloud-optimised GeoTIFF out.

Stages: validate the request; compute windows (here, in worker processes or on a dask cluster) while
this process writes them to a tiled base GTiff; build overview levels; assemble the COG; rename it onto
the output path. Everything happens in a hidden folder beside the output, removed whatever happens.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from ..errors import CancelledError, Earth4DError, InputError
from ..files import check_output_path, publish, staged_result, staging_folder, write_errors
from . import cog
from .compute import WindowJob
from .execution import check_scheduler_address, window_results
from .options import RasterOptions
from .request import plan_request

if TYPE_CHECKING:
    from ..predictor import Earth4D

logger = logging.getLogger(__name__)

COMPRESSIONS = ("ZSTD", "DEFLATE")

ProgressCallback = Callable[[float, str], None]
CancelCallback = Callable[[], bool]


def _warn_if_disk_is_short(out: Path, raw_bytes: int) -> None:
    """Log a warning when the output's folder may not hold the temporaries and the result."""
    needed = raw_bytes * 4 / 3 * 2  # base + overviews (uncompressed for floats), then the COG itself
    free = shutil.disk_usage(out.parent).free
    if free < needed:
        logger.warning(
            "%s may run out of disk space: up to %.1f GB needed, %.1f GB free", out, needed / 1e9, free / 1e9
        )


class ProgressTracker:
    """Reports work done to a callback and a tqdm bar, and raises ``CancelledError`` when asked to stop.

    ``what`` names the work in the bar and in the cancellation message (rasterize, classify, ...).
    """

    def __init__(
        self,
        total: int,
        progress: ProgressCallback | None,
        cancel: CancelCallback | None,
        bar: bool,
        what: str = "rasterize",
    ) -> None:
        self.total = max(1, total)
        self.done = 0
        self.callback = progress
        self.cancel = cancel
        self.what = what
        self.bar = tqdm(total=self.total, unit="tile", desc=what, disable=not bar, leave=False)

    def check(self) -> None:
        if self.cancel is not None and self.cancel():
            raise CancelledError(f"{self.what} was cancelled; no output was written")

    def advance(self, message: str, n: int = 1, check: bool = True) -> None:
        self.done += n
        self.bar.update(n)
        if self.callback is not None:
            self.callback(min(1.0, self.done / self.total), message)
        if check:
            self.check()

    def close(self) -> None:
        self.bar.close()


def rasterize(
    model: Earth4D | str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    options: RasterOptions | None = None,
    *,
    overwrite: bool = False,
    workers: int = 1,
    scheduler: Any = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    progress_bar: bool = False,
    compress: str = "ZSTD",
    **option_fields: Any,
) -> Path:
    """Write the model's prediction for an area and date (``RasterOptions``) as a COG at ``out_path``.

    The request is ``options`` with any ``RasterOptions`` field given as a keyword on top of it
    (``rasterize(model, out, bbox=[...], date="2024")`` works alike): ``output`` "embeddings" (64 x float32,
    A00..A63), "rgb" (3 x uint8), "int8" (official quantisation, nodata -128) or "similarity" (cosine to the
    embedding at ``point`` = (lat, lon)); elevation from ``dem``, a constant ``elevation``, or the model's
    prior. ``workers`` local processes or a dask ``scheduler`` (address or Client) compute windows in
    parallel (cluster workers need earth4d-gis installed and must be able to read ``dem``; the model travels
    to them). ``progress(fraction, message)`` is called as work advances; ``cancel()`` returning True stops
    it. Raises ``Earth4DError`` subclasses.
    """
    from ..predictor import as_model

    out = check_output_path(out_path, overwrite)
    if str(compress).upper() not in COMPRESSIONS:
        raise InputError(f"compression {compress!r} is not one of {', '.join(COMPRESSIONS)}")
    if int(workers) < 1:
        raise InputError(f"workers {workers} is not a positive number")
    if isinstance(scheduler, str):
        check_scheduler_address(scheduler)
    model = as_model(model)
    request = plan_request(model, RasterOptions.build(options, **option_fields))
    grid, kind = request.grid, request.kind
    windows = list(grid.windows(cog.TILE))
    overview_tiles = cog.overview_blocks(grid.width, grid.height)
    finish_weight = max(1, math.ceil((len(windows) + overview_tiles) / 10))
    tracker = ProgressTracker(len(windows) + overview_tiles + finish_weight, progress, cancel, progress_bar)
    job = WindowJob.for_request(model, request)
    _warn_if_disk_is_short(out, grid.n_pixels * kind.count * np.dtype(kind.dtype).itemsize)
    try:
        tracker.check()
        with staging_folder(out) as folder, write_errors(out), cog.gdal_env():
            base = folder / "base.tif"
            dataset = cog.open_base(base, kind, grid, request.tags)
            try:
                with window_results(job, windows, workers=workers, scheduler=scheduler) as results:
                    try:
                        for i, (window, pixels) in enumerate(results, start=1):
                            dataset.write(pixels, window=window)
                            tracker.advance(f"window {i} of {len(windows)}")
                    except BrokenExecutor:
                        raise Earth4DError(
                            "a worker process died (out of memory?); try fewer workers"
                        ) from None
            finally:
                dataset.close()
            overviews = cog.write_overviews(base, kind, lambda: tracker.advance("overviews"))
            vrt = cog.write_vrt(base, overviews, folder / "stack.vrt")
            staged = cog.translate_to_cog(
                vrt, staged_result(folder, out), kind, compress=str(compress).upper()
            )
            valid, errors, _ = cog.validate_cog(staged)
            if not valid:
                logger.warning("%s failed COG validation: %s", out, "; ".join(errors))
            publish(staged, out, overwrite)
        tracker.advance("done", finish_weight, check=False)
    finally:
        tracker.close()
    logger.info("wrote %s (%s, %d x %d)", out, kind.name, grid.width, grid.height)
    return out
