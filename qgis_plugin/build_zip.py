"""Build the installable QGIS plugin zip: ``python qgis_plugin/build_zip.py`` -> ``dist/earth4d.zip``.

The zip holds one folder, ``earth4d/``, as QGIS's "Install from ZIP" expects; caches are left out and the
zip is written to a temporary name first, so a failed build never leaves a broken zip behind.
"""

from __future__ import annotations

import argparse
import configparser
import logging
import os
import sys
import tempfile
import zipfile
from pathlib import Path

LOG = logging.getLogger("build_zip")
PLUGIN_DIR = Path(__file__).resolve().parent / "earth4d"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "dist" / "earth4d.zip"
REQUIRED_METADATA = ("name", "qgisMinimumVersion", "description", "about", "version", "author")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo", ".orig", ".rej"}


def read_metadata(plugin_dir: Path = PLUGIN_DIR) -> dict[str, str]:
    """The ``[general]`` section of metadata.txt; raises ``ValueError`` naming a missing key."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    if not parser.read(plugin_dir / "metadata.txt", encoding="utf-8"):
        raise ValueError(f"{plugin_dir / 'metadata.txt'} is missing")
    general = dict(parser["general"]) if parser.has_section("general") else {}
    missing = [key for key in REQUIRED_METADATA if not general.get(key, "").strip()]
    if missing:
        raise ValueError(f"metadata.txt lacks {', '.join(missing)}")
    icon = general.get("icon", "")
    if icon and not (plugin_dir / icon).is_file():
        raise ValueError(f"metadata.txt names icon {icon}, which does not exist")
    return general


def plugin_files(plugin_dir: Path = PLUGIN_DIR) -> list[Path]:
    """Files that belong in the zip, sorted, relative to ``plugin_dir``."""
    files = []
    for path in sorted(plugin_dir.rglob("*")):
        relative = path.relative_to(plugin_dir)
        if path.is_dir() or SKIPPED_DIRS & set(relative.parts) or path.suffix in SKIPPED_SUFFIXES:
            continue
        files.append(relative)
    return files


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def build_zip(out: Path = DEFAULT_OUT, plugin_dir: Path = PLUGIN_DIR, overwrite: bool = True) -> Path:
    """Write the plugin zip to ``out`` (atomically) and return its path."""
    read_metadata(plugin_dir)
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for relative in plugin_files(plugin_dir):
                archive.write(plugin_dir / relative, (Path(plugin_dir.name) / relative).as_posix())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a zip written normally respects the umask
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the installable Earth4D QGIS plugin zip.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"zip to write (default {DEFAULT_OUT})")
    parser.add_argument("--no-overwrite", action="store_true", help="refuse to replace an existing zip")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        out = build_zip(args.out, overwrite=not args.no_overwrite)
    except (ValueError, FileExistsError, OSError) as exc:
        LOG.error("error: %s", exc)
        return 1
    LOG.info("wrote %s (version %s)", out, read_metadata()["version"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
