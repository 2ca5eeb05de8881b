"""Running window jobs: in this process, in local worker processes, or on a dask.distributed cluster.

Whatever computes the windows, results come back in submission order to ONE writer (the caller),
with a bounded number in flight, so memory stays flat and the GeoTIFF is written by a single thread.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import signal
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from ..errors import InputError, first_line
from .compute import WindowJob

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = "10s"
"""How long to try to reach a dask scheduler before giving up with a clear error."""
_WORKER_JOB: WindowJob | None = None


def _init_worker(job: WindowJob, threads: int) -> None:
    import torch

    global _WORKER_JOB
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    torch.set_num_threads(threads)
    _WORKER_JOB = job


def _compute_in_worker(window: Window) -> np.ndarray:
    if _WORKER_JOB is None:
        raise RuntimeError("worker process was not initialised")
    return _WORKER_JOB.compute(window)


def _compute(job: WindowJob, window: Window) -> np.ndarray:
    return job.compute(window)


def _spawn_context() -> Any:
    """A spawn context whose children run Python even when this process is not ``python`` (e.g. QGIS).

    Spawn (not fork) because forking a process with torch's thread pools can deadlock.
    """
    context = multiprocessing.get_context("spawn")
    if not Path(sys.executable).name.startswith("python"):
        context.set_executable(str(Path(sys.exec_prefix) / "bin" / "python3"))
    return context


def _in_order(submit: Any, windows: Iterable[Window], in_flight: int) -> Iterator[tuple[Window, np.ndarray]]:
    """Submit windows keeping at most ``in_flight`` pending; yield results in submission order."""
    pending: deque[tuple[Window, Any]] = deque()
    source = iter(windows)

    def top_up() -> None:
        while len(pending) < in_flight:
            window = next(source, None)
            if window is None:
                return
            pending.append((window, submit(window)))

    top_up()
    while pending:
        window, future = pending.popleft()
        result = future.result()
        top_up()
        yield window, result


_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx|ws|wss|inproc)://)?\[?[\w.\-:]+\]?(?::\d{1,5})?(?:/[\w.\-/]*)?$")


def check_scheduler_address(address: str) -> str:
    """``address`` if it looks like a dask scheduler address (``tcp://host:8786``, ``host:8786``)."""
    text = str(address).strip()
    if not _ADDRESS.match(text):
        raise InputError(
            f"scheduler {address!r} is not a dask scheduler address (like tcp://host:8786 or host:8786)"
        )
    return text


def _connect(scheduler: Any) -> tuple[Any, bool]:
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    address = check_scheduler_address(scheduler)
    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False), True
    except Exception as exc:  # noqa: BLE001 - distributed raises OSError, TimeoutError, ValueError, ...
        raise InputError(f"cannot reach the dask scheduler {scheduler!r} ({first_line(exc)})") from None


@contextlib.contextmanager
def window_results(
    job: WindowJob, windows: list[Window], *, workers: int = 1, scheduler: Any = None
) -> Iterator[Iterator[tuple[Window, np.ndarray]]]:
    """Yield an iterator of (window, pixels) in order; pending work is cancelled when the block exits."""
    if scheduler is not None:
        client, owned = _connect(scheduler)
        futures: list[Any] = []
        try:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            shared = client.scatter(job, broadcast=True)

            def submit(window: Window) -> Any:
                future = client.submit(_compute, shared, window, pure=False)
                futures.append(future)
                return future

            logger.info("computing %d windows on dask cluster %s", len(windows), client.scheduler.address)
            yield _in_order(submit, windows, 2 * n_workers + 1)
        finally:
            client.cancel(futures)
            if owned:
                client.close()
        return
    if workers <= 1:
        yield ((window, job.compute(window)) for window in windows)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_spawn_context(),
        initializer=_init_worker,
        initargs=(job, threads),
    )
    try:
        logger.info("computing %d windows in %d worker processes", len(windows), workers)
        yield _in_order(lambda window: pool.submit(_compute_in_worker, window), windows, 2 * workers + 1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
