"""Load a user's dataset: a metadata table (CSV or Parquet) and a row-aligned ``[N, 64]`` embeddings file.

Nothing is guessed and nothing is dropped silently: int8 embeddings need an explicit quantisation,
and every invalid row is reported (``DataError``) or, with ``drop_invalid``, dropped and counted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..conventions import EMBEDDING_DIM
from ..errors import DataError, Earth4DError, first_line
from ..geodesy import DEFAULT_TIME_SPAN, TimeSpan, parse_time
from ..quantization import INT8_NODATA, SCHEMES, check_scheme, dequantize
from .samples import SampleSet
from .validation import ValidationReport

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("latitude", "longitude", "elevation_m", "event_date")
ELEVATION_RANGE_M = (-12_000.0, 12_000.0)
EMBEDDING_LIMIT = 1.01
"""Embedding values beyond this magnitude cannot come from unit vectors (``linear127``'s -128 gives 1.008)."""
_REPARSE_LIMIT = 10_000


def _existing(path: str | os.PathLike[str], what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what} file {p} does not exist")
    return p


def read_metadata(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The four required columns of a metadata CSV (optionally gzipped) or Parquet file, as read."""
    p = _existing(path, "metadata")
    name = p.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            columns = pq.read_schema(p).names
            _check_columns(p, columns)
            return pd.read_parquet(p, columns=list(REQUIRED_COLUMNS))
        if name.endswith((".csv", ".csv.gz", ".txt")):
            columns = list(pd.read_csv(p, nrows=0).columns)
            _check_columns(p, columns)
            return pd.read_csv(
                p, usecols=list(REQUIRED_COLUMNS), dtype={"event_date": str}, float_precision="round_trip"
            )
    except Earth4DError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
        raise DataError(
            f"metadata file {p} cannot be read: {first_line(exc)}"
        ) from None
    raise DataError(f"metadata file {p} is neither CSV (.csv, .csv.gz) nor Parquet (.parquet)")


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DataError(
            f"metadata file {path} lacks column(s) {', '.join(missing)} "
            f"(it has: {', '.join(map(str, columns[:12]))}{', ...' if len(columns) > 12 else ''})"
        )


def read_embeddings(path: str | os.PathLike[str]) -> np.ndarray:
    """The embeddings array from a ``.pt`` tensor (loaded without running code) or a ``.npy`` file."""
    p = _existing(path, "embeddings")
    suffix = p.suffix.lower()
    if suffix in (".pt", ".pth"):
        import torch

        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - torch raises many types; its text advises loading unsafely
            raise DataError(
                f"embeddings file {p} is not a trusted tensor file and was not loaded (it holds Python "
                "objects that could run code, or it is damaged)"
            ) from None
        if not isinstance(obj, torch.Tensor):
            raise DataError(f"embeddings file {p} holds a {type(obj).__name__}, not a tensor")
        if obj.dtype == torch.bfloat16 or obj.dtype == torch.float16:
            obj = obj.float()
        return obj.detach().contiguous().numpy()
    if suffix == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise DataError(f"embeddings file {p} was refused: {first_line(exc)}") from None
    raise DataError(f"embeddings file {p} is neither a PyTorch tensor (.pt) nor a NumPy array (.npy)")


def decode_embeddings(raw: np.ndarray, quantization: str | None, path: Path | str) -> np.ndarray:
    """float32 ``[N, 64]``: int8 decoded with the named scheme, floats as they are; anything else refused."""
    if raw.ndim != 2 or raw.shape[1] != EMBEDDING_DIM:
        raise DataError(f"embeddings file {path} has shape {list(raw.shape)}, expected [N, {EMBEDDING_DIM}]")
    if raw.dtype == np.int8:
        if quantization is None:
            raise DataError(
                f"embeddings file {path} holds int8 codes: say how to decode them with "
                "quantization='linear127' (q/127, the original AlphaEarth sample tensor) or "
                "quantization='aef' (sign(q)*(q/127.5)^2, the official AlphaEarth rasters, -128 = nodata)"
            )
        return dequantize(raw, check_scheme(quantization))
    if raw.dtype.kind == "f":
        if quantization is not None:
            raise DataError(
                f"quantization {quantization!r} applies to int8 embeddings, but {path} holds {raw.dtype}"
            )
        return raw.astype(np.float32, copy=False)
    raise DataError(
        f"embeddings file {path} holds {raw.dtype} values; expected float or int8 ({'/'.join(SCHEMES)})"
    )


def _numeric(report: ValidationReport, frame: pd.DataFrame, column: str, lo: float, hi: float) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    missing = ~np.isfinite(values)
    report.add(f"{column} missing or not a number", missing, raw.to_numpy())
    report.add(f"{column} outside [{lo:g}, {hi:g}]", ~missing & ((values < lo) | (values > hi)), values)
    return values


def _parse_dates(raw: pd.Series) -> np.ndarray:
    """``datetime64[s]``; NaT where unparseable. Vectorised ISO 8601, with a per-row retry for odd ones."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = pd.to_datetime(raw, utc=True)
    else:
        parsed = pd.to_datetime(raw.astype("string"), errors="coerce", format="ISO8601", utc=True)
    # In its own unit (pandas >= 3 picks seconds or microseconds for far dates): converting through
    # nanoseconds would wrap dates outside 1677-2262 around instead of keeping them.
    out = parsed.dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    # Dates older pandas cannot hold in nanoseconds (before 1677 or after 2262) come back as NaT:
    # they are real dates, not junk, so they are parsed again one by one.
    retry = np.flatnonzero(np.isnat(out) & raw.notna().to_numpy())[:_REPARSE_LIMIT]
    for row in retry:
        try:
            out[row] = parse_time(str(raw.iloc[row]))
        except Earth4DError:
            continue
    return out


def validate_rows(
    frame: pd.DataFrame,
    embeddings: np.ndarray,
    codes: np.ndarray | None,
    quantization: str | None,
    span: TimeSpan,
) -> tuple[ValidationReport, dict[str, np.ndarray]]:
    """Check every row; return the report and the parsed columns (latitude, longitude, elevation, time)."""
    report = ValidationReport(n_rows=len(frame))
    lat = _numeric(report, frame, "latitude", -90.0, 90.0)
    lon = _numeric(report, frame, "longitude", -180.0, 180.0)
    elev = _numeric(report, frame, "elevation_m", *ELEVATION_RANGE_M)
    time = _parse_dates(frame["event_date"])
    unparsed = np.isnat(time)
    report.add("event_date missing or not a date", unparsed, frame["event_date"].to_numpy())
    start, end = parse_time(span.start), parse_time(span.end)
    outside = ~unparsed & ((time < start) | (time > end))
    report.add(f"event_date outside the time span {span.start} .. {span.end}", outside, time)
    nodata = np.zeros(len(frame), dtype=bool)
    if codes is not None and quantization == "aef":
        nodata = (codes == INT8_NODATA).any(axis=1)
        report.add(f"embedding nodata ({INT8_NODATA}) in some band", nodata, codes)
    finite = np.isfinite(embeddings).all(axis=1)
    report.add("embedding not finite (NaN or inf)", ~finite & ~nodata, embeddings)
    too_big = finite & (np.abs(embeddings).max(axis=1, initial=0.0) > EMBEDDING_LIMIT)
    report.add(f"embedding value beyond +-{EMBEDDING_LIMIT} (not a unit vector)", too_big, embeddings)
    return report, {"latitude": lat, "longitude": lon, "elevation": elev, "time": time}


def load_samples(
    metadata: str | os.PathLike[str],
    embeddings: str | os.PathLike[str],
    *,
    quantization: str | None = None,
    drop_invalid: bool = False,
    max_samples: int | None = None,
    time_span: TimeSpan = DEFAULT_TIME_SPAN,
) -> SampleSet:
    """Load, check and align a metadata table and its embeddings into a ``SampleSet``.

    Raises ``DataError`` (one line) for unreadable files, missing columns, a row-count mismatch,
    int8 data without ``quantization``, and invalid rows (counts per reason, the first examples);
    ``drop_invalid`` drops invalid rows instead and logs how many per reason. ``max_samples`` keeps a
    seeded random subset of the valid rows, in file order.
    """
    meta_path, emb_path = Path(metadata), Path(embeddings)
    return build_samples(
        read_metadata(meta_path),
        read_embeddings(emb_path),
        names=(meta_path.name, emb_path.name),
        quantization=quantization,
        drop_invalid=drop_invalid,
        max_samples=max_samples,
        time_span=time_span,
    )


def build_samples(
    frame: pd.DataFrame,
    raw: np.ndarray,
    *,
    names: tuple[str, str],
    quantization: str | None,
    drop_invalid: bool,
    max_samples: int | None,
    time_span: TimeSpan,
) -> SampleSet:
    """``load_samples`` after reading: decode, check, drop or raise, subset. ``names`` label the two files."""
    if quantization is not None:
        check_scheme(quantization)
    if max_samples is not None and max_samples < 1:
        raise DataError(f"max_samples {max_samples} must be at least 1")
    meta_name, emb_name = names
    if raw.ndim >= 1 and raw.shape[0] != len(frame):
        raise DataError(
            f"row-count mismatch: metadata {meta_name} has {len(frame)} rows but embeddings {emb_name} "
            f"has {raw.shape[0]}"
        )
    values = decode_embeddings(raw, quantization, emb_name)
    codes = raw if raw.dtype == np.int8 else None
    report, columns = validate_rows(frame, values, codes, quantization, time_span)
    what = f"{meta_name} + {emb_name}"
    keep = report.raise_or_keep(what, drop_invalid)
    rows: Any = slice(None) if keep.all() else np.flatnonzero(keep)
    if max_samples is not None and max_samples < int(keep.sum()):
        valid = np.flatnonzero(keep)
        rows = np.sort(np.random.default_rng(0).choice(valid, size=max_samples, replace=False))
        log.info("using %d of %d valid samples (max_samples)", max_samples, valid.size)
    return SampleSet(
        latitude=columns["latitude"][rows],
        longitude=columns["longitude"][rows],
        elevation=columns["elevation"][rows],
        time=columns["time"][rows],
        embeddings=values[rows],
        source=what,
    )
