"""The model the in-process runner keeps loaded between runs, and its release when the plugin unloads.

Loading a model takes seconds, so consecutive in-process runs of one model file share it. One model at a
time (keyed by path, modification time and size, so a rewritten file is reloaded); the plugin calls
``LOADED_MODELS.clear()`` in ``unload``, after which nothing of the plugin refers to the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


class ModelCache:
    """At most one loaded model, shared by the runners that use it; thread-safe."""

    def __init__(self) -> None:
        self._key: tuple[str, int, int] | None = None
        self._model: Any = None
        self._lock = threading.Lock()

    def get(self, path: Path, load: Callable[[Path], Any]) -> Any:
        """The model of ``path``: the one already loaded if the file is unchanged, else ``load(path)``."""
        stat = path.stat() if path.is_file() else None
        key = (str(path.resolve()), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)
        with self._lock:
            if self._key != key:
                self._key, self._model = None, None  # release the old model before loading the next
                self._model = load(path)
                self._key = key
            return self._model

    def loaded(self) -> Any:
        """The model held now, or None."""
        return self._model

    def clear(self) -> None:
        """Drop the model (the plugin's ``unload`` calls this, so no model outlives the plugin)."""
        with self._lock:
            self._key, self._model = None, None


LOADED_MODELS = ModelCache()
"""The cache ``InProcessRunner`` uses unless it is given another."""
