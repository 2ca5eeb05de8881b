"""A size-bounded, thread-safe LRU cache of rendered tiles (PNG bytes) with hit and miss counts."""

from __future__ import annotations

import threading
from collections.abc import Hashable

import cachetools

DEFAULT_CACHE_MB = 256


class TileCache:
    """PNG bytes by key (model fingerprint, style and its parameters, z, x, y); at most ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(int(max_bytes), 1)
        self._lru: cachetools.LRUCache[Hashable, bytes] = cachetools.LRUCache(
            maxsize=self.max_bytes, getsizeof=len
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            value = self._lru.get(key)
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def put(self, key: Hashable, value: bytes) -> None:
        """Store ``value``; one larger than the whole cache is simply not kept."""
        if len(value) > self.max_bytes:
            return
        with self._lock:
            self._lru[key] = value

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "tiles": len(self._lru),
                "bytes": int(self._lru.currsize),
                "max_bytes": self.max_bytes,
                "hits": self.hits,
                "misses": self.misses,
            }
