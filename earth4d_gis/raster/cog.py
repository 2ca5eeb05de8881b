"""Cloud-optimised GeoTIFF assembly with overviews that GDAL cannot compute itself.

The base image is written window by window as a tiled GTiff; each overview level is made from the
previous one, 512x512 output tiles at a time, by the output kind's own 2x2 reduction (for embeddings:
the mean re-normalised to unit length). A VRT ties the levels together (``<Overview>`` elements on its
bands) and GDAL's COG driver copies it with ``OVERVIEWS=FORCE_USE_EXISTING``. Memory stays flat: nothing
ever holds more than a few tiles.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.crs import CRS as RioCRS
from rasterio.windows import Window

from .grid import OutputGrid
from .products import OutputKind

logger = logging.getLogger(__name__)

TILE = 512
GDAL_CACHE_MB = 128
"""Block cache for the whole write: a 64-band float32 tile is 64 MiB, so this holds a few of them."""

Tick = Callable[[], None]


def gdal_env() -> rasterio.Env:
    """GDAL settings for writing: a bounded block cache (peak memory stays flat) and threaded codecs."""
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB, GDAL_NUM_THREADS="ALL_CPUS")


def _is_float(kind: OutputKind) -> bool:
    return np.dtype(kind.dtype).kind == "f"


def _temp_profile(kind: OutputKind, width: int, height: int) -> dict[str, Any]:
    # Float embeddings barely compress (random low mantissa bits): temporaries stay uncompressed,
    # which saves more CPU than it costs disk. Integer outputs compress well, cheaply.
    compression = {} if _is_float(kind) else {"compress": "ZSTD", "zstd_level": 1}
    return {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": kind.count,
        "dtype": kind.dtype,
        "nodata": kind.nodata,
        "tiled": True,
        "blockxsize": TILE,
        "blockysize": TILE,
        **compression,
        "interleave": "band",
        "bigtiff": "IF_SAFER",
        "num_threads": "ALL_CPUS",
    }


def open_base(path: Path, kind: OutputKind, grid: OutputGrid, tags: dict[str, str]) -> Any:
    """Open the base-level temporary GTiff for writing, with CRS, transform, nodata, descriptions, tags."""
    profile = _temp_profile(kind, grid.width, grid.height)
    dataset = rasterio.open(
        path, "w", crs=RioCRS.from_wkt(grid.crs.to_wkt()), transform=grid.transform, **profile
    )
    for band, description in enumerate(kind.descriptions, start=1):
        dataset.set_band_description(band, description)
    dataset.update_tags(**tags)
    return dataset


def overview_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """Each overview level's (width, height), halving until the image fits in one tile, as GDAL does."""
    sizes = []
    while max(width, height) > TILE:
        width, height = math.ceil(width / 2), math.ceil(height / 2)
        sizes.append((width, height))
    return sizes


def _read_padded(src: Any, window: Window, kind: OutputKind) -> np.ndarray:
    """Read ``window`` (may run past the edge), nodata-padded to an even width and height."""
    width = min(window.col_off + window.width, src.width) - window.col_off
    height = min(window.row_off + window.height, src.height) - window.row_off
    data = src.read(window=Window(window.col_off, window.row_off, width, height))
    rows, cols = data.shape[1], data.shape[2]
    if rows % 2 or cols % 2:
        padded = kind.empty(rows + rows % 2, cols + cols % 2)
        padded[:, :rows, :cols] = data
        data = padded
    return data


def _halve_level(src: Any, dst: Any, kind: OutputKind, tick: Tick) -> None:
    """Write each TILE x TILE block of ``dst`` from the four TILE x TILE quarters of ``src`` above it."""
    half = TILE // 2
    for row in range(0, dst.height, TILE):
        for col in range(0, dst.width, TILE):
            height, width = min(TILE, dst.height - row), min(TILE, dst.width - col)
            out = kind.empty(height, width)
            for dr in range(0, height, half):
                for dc in range(0, width, half):
                    window = Window(2 * (col + dc), 2 * (row + dr), TILE, TILE)
                    if window.col_off >= src.width or window.row_off >= src.height:
                        continue
                    reduced = kind.halve(_read_padded(src, window, kind))
                    h = min(reduced.shape[1], height - dr)
                    w = min(reduced.shape[2], width - dc)
                    out[:, dr : dr + h, dc : dc + w] = reduced[:, :h, :w]
            dst.write(out, window=Window(col, row, width, height))
            tick()


def overview_blocks(width: int, height: int) -> int:
    """How many output tiles the overview levels of a width x height image have (for progress)."""
    return sum(math.ceil(w / TILE) * math.ceil(h / TILE) for w, h in overview_sizes(width, height))


def write_overviews(base: Path, kind: OutputKind, tick: Tick) -> list[Path]:
    """Write every overview level of ``base`` as its own tiled GTiff beside it; returns their paths."""
    paths = []
    previous = base
    with rasterio.open(base) as src0:
        profile = {**_temp_profile(kind, src0.width, src0.height), "crs": src0.crs}
        transform = src0.transform
    for level, (width, height) in enumerate(overview_sizes(profile["width"], profile["height"]), start=1):
        path = base.with_name(f"{base.stem}.ovr{level}.tif")
        scale = 2**level
        level_profile = {
            **profile,
            "width": width,
            "height": height,
            "transform": transform * transform.scale(scale, scale),
        }
        with rasterio.open(previous) as src, rasterio.open(path, "w", **level_profile) as dst:
            _halve_level(src, dst, kind, tick)
        paths.append(path)
        previous = path
    return paths


def write_vrt(base: Path, overviews: list[Path], path: Path) -> Path:
    """A VRT of ``base`` whose bands list ``overviews`` as their overview levels."""
    rasterio.shutil.copy(base, path, driver="VRT")
    tree = ET.parse(path)
    for band in tree.getroot().iter("VRTRasterBand"):
        number = band.get("band")
        for overview in overviews:
            element = ET.SubElement(band, "Overview")
            source = ET.SubElement(element, "SourceFilename", relativeToVRT="1")
            source.text = overview.name
            ET.SubElement(element, "SourceBand").text = number
    tree.write(path)
    return path


def translate_to_cog(vrt: Path, out: Path, kind: OutputKind, compress: str = "ZSTD") -> Path:
    """Copy the VRT (base + overviews) into one COG using its overviews as they are.

    Floats get the fastest level (higher levels gain ~2% on float32 at several times the CPU);
    integer outputs get the codec's default level.
    """
    level = {"LEVEL": 1} if _is_float(kind) else {}
    # Threaded compression keeps several tiles in flight; a 64-band float32 tile is 64 MiB, and on a
    # small machine the threads gain nothing for it (measured), so big tiles are compressed in one thread.
    tile_bytes = kind.count * TILE * TILE * np.dtype(kind.dtype).itemsize
    threads = "1" if tile_bytes > 16 * 2**20 else "ALL_CPUS"
    rasterio.shutil.copy(
        vrt,
        out,
        driver="COG",
        BLOCKSIZE=TILE,
        COMPRESS=compress,
        PREDICTOR="YES",
        BIGTIFF="IF_SAFER",
        OVERVIEWS="FORCE_USE_EXISTING",
        NUM_THREADS=threads,
        **level,
    )
    return out


def validate_cog(path: str | Path) -> tuple[bool, list[str], list[str]]:
    """rio-cogeo's COG validation: (valid, errors, warnings)."""
    from rio_cogeo.cogeo import cog_validate

    return cog_validate(str(path), quiet=True)
