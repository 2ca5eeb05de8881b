"""The training-progression video: the per-epoch maps as an MP4, in numeric epoch order."""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..files import atomic_output, write_error

log = logging.getLogger(__name__)

DEFAULT_PATTERN = "bay_area_epoch_*_rgb.png"
_EPOCH_RE = re.compile(r"epoch_(\d+)")
_MACRO_BLOCK = 16


def find_frames(input_dir: str | os.PathLike[str], pattern: str = DEFAULT_PATTERN) -> list[Path]:
    """Frames matching ``pattern`` in ``input_dir``, sorted by the number after ``epoch_`` (9 before 10)."""
    folder = Path(input_dir)
    if not folder.is_dir():
        raise InputError(f"input folder {folder} does not exist")
    frames = [p for p in folder.glob(pattern) if _EPOCH_RE.search(p.name)]
    if not frames:
        raise InputError(f"no frames matching {pattern!r} in {folder}")
    return sorted(frames, key=lambda p: (int(_EPOCH_RE.search(p.name).group(1)), p.name))


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise InputError(f"frame {path} is not a readable image ({exc.__class__.__name__})") from None


def _pad(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    out = np.full((height, width, 3), 255, dtype=np.uint8)
    out[: frame.shape[0], : frame.shape[1]] = frame
    return out


def make_video(
    input_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    fps: float = 4.0,
    pattern: str = DEFAULT_PATTERN,
    overwrite: bool = False,
) -> Path:
    """Encode the frames of ``input_dir`` as an H.264 MP4 at ``output`` (atomically); returns the path.

    Frames of different sizes are padded with white to a common size that is a multiple of 16.
    """
    import imageio_ffmpeg

    target = Path(output)
    if target.suffix.lower() != ".mp4":
        raise InputError(f"output {target} must end in .mp4 (the video is an H.264 MP4)")
    if target.is_dir():
        raise InputError(f"output {target} is a folder, not a file name")
    if target.exists() and not overwrite:
        raise InputError(f"output {target} already exists; use overwrite=True to replace it")
    if not target.parent.is_dir():
        raise InputError(f"output folder {target.parent} does not exist")
    if not math.isfinite(fps) or fps <= 0:
        raise InputError(f"fps {fps} must be a positive number")
    frames = find_frames(input_dir, pattern)
    sizes = [_read_rgb(p).shape[:2] for p in frames]
    height = -(-max(h for h, _ in sizes) // _MACRO_BLOCK) * _MACRO_BLOCK
    width = -(-max(w for _, w in sizes) // _MACRO_BLOCK) * _MACRO_BLOCK
    with atomic_output(target, overwrite=overwrite, extension=".mp4") as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp), (width, height), fps=fps, macro_block_size=_MACRO_BLOCK, output_params=["-f", "mp4"]
        )
        writer.send(None)
        try:
            for path in frames:
                writer.send(np.ascontiguousarray(_pad(_read_rgb(path), height, width)))
        finally:
            writer.close()
        # ffmpeg does not always fail when the disk is full: count what it wrote.
        written, _ = imageio_ffmpeg.count_frames_and_secs(str(tmp))
        if written != len(frames):
            raise write_error(target, OSError(f"{written} of {len(frames)} frames were written"))
    log.info("wrote %s (%d frames, %dx%d)", target, len(frames), width, height)
    return target
