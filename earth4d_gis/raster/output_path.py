"""Output files: refuse to overwrite without permission, and never leave a half-written file behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError


def check_output_path(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """The output path, after checking its folder is writable and it exists only if ``overwrite``."""
    out = Path(path).expanduser()
    if out.is_dir():
        raise InputError(f"output {out} is a folder, not a file name")
    if out.exists() and not overwrite:
        raise InputError(f"output {out} already exists; use --overwrite (overwrite=True) to replace it")
    folder = out.parent
    if not folder.is_dir():
        raise InputError(f"output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"output folder {folder} is not writable")
    return out


@contextlib.contextmanager
def staging_folder(out: Path) -> Iterator[Path]:
    """A hidden temporary folder beside ``out`` (same file system, so the final rename is atomic).

    It and everything in it are removed when the block exits, on success, error or Ctrl-C alike.
    """
    folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(staged: Path, out: Path) -> Path:
    """Move a finished file onto its final name in one step."""
    os.replace(staged, out)
    return out
