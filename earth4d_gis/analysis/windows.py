"""Running an analysis over a source, window by window: to COGs on disk, or into memory as xarray.

An ``Operation`` turns the embeddings of the valid pixels of one window (one ``[N, 64]`` array per source)
into one array per output raster. ``AnalysisJob`` pairs it with its sources and is what worker processes
or a dask cluster receive, exactly as ``rasterize``'s ``WindowJob`` (``raster.execution.window_results``):
results come back in order to one writer, memory stays flat, and every output is assembled as a COG in a
hidden folder and renamed onto its final name at the end.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rasterio.errors import RasterioError
from rasterio.windows import Window

from .._version import __version__
from ..conventions import IN_MEMORY_MAX_PIXELS
from ..errors import Earth4DError, InputError, first_line
from ..files import check_output_path, publish, staging_folder
from ..raster import cog
from ..raster.execution import window_results
from ..raster.pipeline import CancelCallback, ProgressCallback, ProgressTracker
from ..raster.products import OutputKind
from .products import ClassKind
from .source import EmbeddingSource

if TYPE_CHECKING:
    import xarray

logger = logging.getLogger(__name__)

WindowCallback = Callable[[Window, tuple[np.ndarray, ...]], None]


class Operation:
    """Per-pixel work: ``apply`` maps each source's ``[N, 64]`` embeddings to one ``[count, N]`` per kind."""

    kinds: tuple[OutputKind, ...] = ()
    n_sources: int = 1

    def apply(self, embeddings: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        raise NotImplementedError


@dataclass
class AnalysisJob:
    """An operation and its sources (all on one grid): everything a worker needs for a window."""

    sources: tuple[EmbeddingSource, ...]
    operation: Operation

    @property
    def grid(self) -> Any:
        return self.sources[0].grid

    def compute(self, window: Window) -> tuple[np.ndarray, ...]:
        """One ``[count, h, w]`` array per output kind; nodata where any source has no data."""
        height, width = int(window.height), int(window.width)
        stacks = [source.read(window).reshape(64, -1) for source in self.sources]
        valid = np.ones(height * width, dtype=bool)
        for stack in stacks:
            valid &= np.isfinite(stack).all(axis=0)
        kinds = self.operation.kinds
        if not valid.any():
            return tuple(kind.empty(height, width) for kind in kinds)
        results = self.operation.apply([np.ascontiguousarray(stack[:, valid].T) for stack in stacks])
        out = []
        for kind, values in zip(kinds, results, strict=True):
            block = kind.empty(height, width)
            block.reshape(kind.count, -1)[:, valid] = values
            out.append(block)
        return tuple(out)


def base_tags(job: AnalysisJob, operation: str) -> dict[str, str]:
    """Tags every analysis output carries: software, operation, and where its embeddings came from."""
    tags = {
        "software": "earth4d-gis",
        "software_version": __version__,
        "analysis": operation,
        "embedding_source": job.sources[0].identity,
        "embedding_source_description": "; ".join(s.description for s in job.sources),
    }
    dates = [str(s.date)[:10] for s in job.sources if s.date is not None]
    if dates:
        tags["dates"] = " ".join(dates)
    return tags


def _open_outputs(folder_of: dict[Path, Path], job: AnalysisJob, tags: list[dict[str, str]]) -> list[Any]:
    datasets = []
    kinds = job.operation.kinds
    for (out, folder), kind, extra in zip(folder_of.items(), kinds, tags, strict=True):
        all_tags = dict(extra)
        if isinstance(kind, ClassKind):
            all_tags.update(kind.tags())
        dataset = cog.open_base(folder / f"{out.stem}.base.tif", kind, job.grid, all_tags)
        if isinstance(kind, ClassKind) and kind.class_names:
            dataset.write_colormap(1, kind.colormap())
        datasets.append(dataset)
    return datasets


def write_outputs(
    job: AnalysisJob,
    outputs: Sequence[str | Path],
    *,
    tags: Sequence[dict[str, str]],
    overwrite: bool = False,
    workers: int = 1,
    scheduler: Any = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    progress_bar: bool = False,
    what: str = "analysis",
    on_window: WindowCallback | None = None,
) -> list[Path]:
    """Compute every window of ``job`` and write its outputs (one COG per kind) to ``outputs``.

    ``on_window(window, blocks)`` sees each window's results in order (for reports). Nothing appears under
    an output's name unless all of them were written; existing files need ``overwrite``.
    """
    paths = [check_output_path(p, overwrite) for p in outputs]
    if len(set(paths)) != len(paths):
        raise InputError(f"two outputs share one file name: {', '.join(str(p) for p in paths)}")
    if int(workers) < 1:
        raise InputError(f"workers {workers} is not a positive number")
    grid, kinds = job.grid, job.operation.kinds
    windows = list(grid.windows(cog.TILE))
    overview_tiles = len(kinds) * cog.overview_blocks(grid.width, grid.height)
    finish = max(1, math.ceil((len(windows) + overview_tiles) / 10))
    tracker = ProgressTracker(len(windows) + overview_tiles + finish, progress, cancel, progress_bar, what)
    try:
        tracker.check()
        with contextlib.ExitStack() as stack, cog.gdal_env():
            folders = {out: stack.enter_context(staging_folder(out)) for out in paths}
            datasets = _open_outputs(folders, job, list(tags))
            try:
                with window_results(job, windows, workers=workers, scheduler=scheduler) as results:  # type: ignore[arg-type]
                    for i, (window, blocks) in enumerate(results, start=1):
                        for dataset, block in zip(datasets, blocks, strict=True):
                            dataset.write(block, window=window)
                        if on_window is not None:
                            on_window(window, blocks)
                        tracker.advance(f"window {i} of {len(windows)}")
            finally:
                for dataset in datasets:
                    dataset.close()
            staged = []
            for (out, folder), kind in zip(folders.items(), kinds, strict=True):
                base = folder / f"{out.stem}.base.tif"
                overviews = cog.write_overviews(base, kind, lambda: tracker.advance("overviews"))
                vrt = cog.write_vrt(base, overviews, folder / "stack.vrt")
                staged.append(cog.translate_to_cog(vrt, folder / out.name, kind))
            tracker.advance("publishing", 0)  # the last chance to cancel: nothing is published yet
            for path, out in zip(staged, paths, strict=True):
                publish(path, out, overwrite)
        tracker.advance("done", finish, check=False)
    except (RasterioError, OSError) as exc:
        raise Earth4DError(f"could not write {paths[0]}: {first_line(exc)}") from None
    except BrokenExecutor:
        raise Earth4DError("a worker process died (out of memory?); try fewer workers") from None
    finally:
        tracker.close()
    for out, kind in zip(paths, kinds, strict=True):
        logger.info("wrote %s (%s, %d x %d)", out, kind.name, grid.width, grid.height)
    return paths


def compute_arrays(job: AnalysisJob, names: Sequence[str] | None = None) -> list[xarray.DataArray]:
    """The job's outputs in memory, one ``xarray.DataArray`` (band, y, x) with CRS per kind."""
    import rioxarray  # noqa: F401 - registers the .rio accessor
    import xarray

    grid, kinds = job.grid, job.operation.kinds
    if grid.n_pixels > IN_MEMORY_MAX_PIXELS:
        raise InputError(
            f"{grid.width} x {grid.height} pixels is too large to hold in memory "
            f"(limit {IN_MEMORY_MAX_PIXELS:,}); write it to a file instead"
        )
    data = [np.empty((k.count, grid.height, grid.width), dtype=k.dtype) for k in kinds]
    for window in grid.windows(cog.TILE):
        rows = slice(window.row_off, window.row_off + window.height)
        cols = slice(window.col_off, window.col_off + window.width)
        for target, block in zip(data, job.compute(window), strict=True):
            target[:, rows, cols] = block
    arrays = []
    for i, (kind, values) in enumerate(zip(kinds, data, strict=True)):
        array = xarray.DataArray(
            values,
            dims=("band", "y", "x"),
            coords={"band": list(kind.descriptions), "y": grid.y_coords(), "x": grid.x_coords()},
            name=names[i] if names else kind.name,
        )
        if isinstance(kind, ClassKind):
            array.attrs["class_names"] = list(kind.class_names)
        array = array.rio.write_crs(grid.crs.to_wkt()).rio.write_transform(grid.transform)
        arrays.append(array.rio.write_nodata(kind.nodata, encoded=False))
    return arrays


def sibling(out: str | Path, suffix: str) -> Path:
    """A file beside ``out`` named after it: ``map.tif`` + ``confidence`` -> ``map.confidence.tif``."""
    p = Path(out)
    return p.with_name(f"{p.stem}.{suffix}{p.suffix or '.tif'}")
