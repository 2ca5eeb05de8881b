"""Change between dates: ``1 - cos`` of each pixel's embeddings, and over a series of dates.

Two dates give two bands: ``1 - cos`` (0 unchanged .. 2 opposite) and the Earth Engine tutorial's visual
``dot * -0.5 + 0.5`` (0.5 unchanged). A series gives the cumulative change (the sum of ``1 - cos`` over
consecutive dates) and when the largest step happened (decimal year of its later date, or its 1-based step
number for sources without a date). A report tells the share of the area changed beyond each threshold.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rasterio.windows import Window

from ..errors import InputError
from ..files import check_output_path
from .products import ValueKind
from .report import change_figure, write_csv
from .source import EmbeddingSource, as_source, same_grid
from .windows import AnalysisJob, Operation, base_tags, compute_arrays, write_outputs

if TYPE_CHECKING:
    import xarray

THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 21))


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    dot = np.einsum("ij,ij->i", a, b)
    norms = np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", b, b))
    return np.clip(dot / np.maximum(norms, 1e-12), -1.0, 1.0)


def decimal_year(date: np.datetime64) -> float:
    year = date.astype("datetime64[Y]")
    start, end = year.astype("datetime64[s]"), (year + 1).astype("datetime64[s]")
    return float(year.astype(np.int64) + 1970) + float((date.astype("datetime64[s]") - start) / (end - start))


class PairChange(Operation):
    n_sources = 2
    kinds = (ValueKind(name="change", descriptions=("change_1_minus_cos", "change_visual")),)

    def apply(self, embeddings: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        cos = _cosine(embeddings[0], embeddings[1])
        return (np.stack([1.0 - cos, cos * -0.5 + 0.5]).astype(np.float32),)


class SeriesChange(Operation):
    kinds = (ValueKind(name="change", descriptions=("cumulative_change", "when_largest_change")),)

    def __init__(self, step_labels: Sequence[float]) -> None:
        self.step_labels = np.asarray(step_labels, dtype=np.float32)
        self.n_sources = len(step_labels) + 1

    def apply(self, embeddings: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        steps = np.stack([1.0 - _cosine(a, b) for a, b in zip(embeddings[:-1], embeddings[1:], strict=True)])
        return (np.stack([steps.sum(axis=0), self.step_labels[steps.argmax(axis=0)]]).astype(np.float32),)


def change_job(sources: Sequence[Any]) -> AnalysisJob:
    """The job for two sources (a pair) or more (a series), all on one grid."""
    srcs: list[EmbeddingSource] = [as_source(s) for s in sources]
    if len(srcs) < 2:
        raise InputError("change needs at least two dates or rasters")
    same_grid(srcs)
    identities = {s.identity for s in srcs}
    if len(identities) > 1:
        raise InputError(f"the sources hold embeddings of different kinds ({', '.join(sorted(identities))})")
    if len(srcs) == 2:
        return AnalysisJob(tuple(srcs), PairChange())
    dates = [s.date for s in srcs]
    if all(d is not None for d in dates):
        labels = [decimal_year(d) for d in dates[1:]]  # type: ignore[arg-type]
    else:
        labels = [float(i) for i in range(1, len(srcs))]
    return AnalysisJob(tuple(srcs), SeriesChange(labels))


def change(sources: Sequence[Any]) -> xarray.DataArray:
    """The change bands of a small area, in memory."""
    return compute_arrays(change_job(sources))[0]


class ChangeTally:
    """Counts, window by window, the valid pixels whose change exceeds each threshold."""

    def __init__(self, thresholds: Sequence[float] = THRESHOLDS) -> None:
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.exceeding = np.zeros(len(self.thresholds), dtype=np.int64)
        self.valid = 0

    def __call__(self, window: Window, blocks: tuple[np.ndarray, ...]) -> None:
        values = blocks[0][0]
        values = values[np.isfinite(values)]
        self.valid += values.size
        self.exceeding += (values[None, :] > self.thresholds[:, None]).sum(axis=1)

    @property
    def shares(self) -> np.ndarray:
        return self.exceeding / max(1, self.valid)


def change_to_files(
    sources: Sequence[Any],
    out: str | os.PathLike[str],
    *,
    report_csv: str | os.PathLike[str] | None = None,
    report_png: str | os.PathLike[str] | None = None,
    thresholds: Sequence[float] = THRESHOLDS,
    overwrite: bool = False,
    **run: Any,
) -> tuple[Path, Path, Path]:
    """Write the change COG, and the report (CSV and PNG of the changed share by threshold) beside it."""
    job = change_job(sources)
    csv_path = check_output_path(report_csv or Path(out).with_suffix(".report.csv"), overwrite)
    png_path = check_output_path(report_png or Path(out).with_suffix(".report.png"), overwrite)
    tally = ChangeTally(thresholds)
    kind = (
        "change between two dates"
        if len(job.sources) == 2
        else f"cumulative change over {len(job.sources)} dates"
    )
    tags = {**base_tags(job, "change"), "change": kind}
    raster = write_outputs(
        job, [Path(out)], tags=[tags], overwrite=overwrite, what="change", on_window=tally, **run
    )[0]
    if tally.valid == 0:
        raster.unlink()
        raise InputError("the sources share no pixel with data; the change map would be empty")
    rows = [
        [f"{t:g}", f"{s:.6f}", int(n)]
        for t, s, n in zip(tally.thresholds, tally.shares, tally.exceeding, strict=True)
    ]
    write_csv(["threshold", "changed_share", "changed_pixels"], rows, csv_path, overwrite=overwrite)
    names = [
        str(s.date)[:10] if s.date is not None else getattr(s, "path", Path("?")).name for s in job.sources
    ]
    change_figure(
        tally.thresholds, tally.shares, f"{kind}\n{' → '.join(names)}", png_path, overwrite=overwrite
    )
    return raster, csv_path, png_path
