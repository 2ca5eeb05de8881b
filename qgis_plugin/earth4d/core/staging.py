"""Write outputs in a private folder beside the final name, then rename: cancel or failure leaves nothing.

The core writes atomically itself, but a killed subprocess cannot clean up after itself; a staging folder
the plugin owns makes "no partial output" true on both paths.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import PluginError


@contextmanager
def staged_output(final: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a path to write to; on a clean exit move it onto ``final``, always remove the staging folder.

    Side files the command wrote beside it (``<name>.centroids.csv``, ``<name>.report.png``) move too, unless
    that would replace a file without ``overwrite``."""
    final = Path(final)
    if final.exists() and not overwrite:
        raise PluginError(f"Output {final} already exists; choose another name or allow overwriting.")
    if not final.parent.is_dir():
        raise PluginError(f"Output folder {final.parent} does not exist.")
    try:
        stage = Path(tempfile.mkdtemp(prefix=".earth4d-", dir=final.parent))
    except OSError as exc:
        raise PluginError(f"Cannot write in {final.parent}: {exc.strerror or exc}.") from None
    try:
        target = stage / final.name
        yield target
        if not target.is_file():
            raise PluginError(f"The core finished without writing {final.name}.")
        os.replace(target, final)
        for side in sorted(stage.iterdir()):
            if side.is_file() and side.name.startswith(final.stem + ".") and (
                overwrite or not (final.parent / side.name).exists()
            ):
                os.replace(side, final.parent / side.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
