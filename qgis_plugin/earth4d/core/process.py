"""Child processes started from QGIS: a clean environment for another Python, and a polite stop."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

TERMINATE_GRACE_S = 5.0


def child_environment() -> dict[str, str]:
    """QGIS's environment minus what would point another Python at QGIS's own libraries."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stop(proc: subprocess.Popen[str]) -> None:
    """Ask a child to stop (SIGINT lets it clean up), then kill it if it does not within a few seconds."""
    if proc.poll() is not None:
        return
    try:
        if sys.platform == "win32":
            proc.terminate()
        else:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=TERMINATE_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


def pump(stream: Any, sink: queue.Queue[tuple[str, str | None]], tag: str) -> None:
    """Put each line of a child's ``stream`` on ``sink`` as ``(tag, line)``, then ``(tag, None)`` at its end.

    Run it in a daemon thread per stream, so reading stdout and stderr never blocks the caller.
    """
    try:
        for line in iter(stream.readline, ""):
            sink.put((tag, line))
    except (OSError, ValueError):
        pass
    sink.put((tag, None))


def stderr_message(tail: Sequence[str], returncode: int | None) -> str:
    """The CLI's one-line error (``Error: ...``) among the last lines of its stderr, else its exit status."""
    for line in reversed(tail):
        if line.startswith("Error: "):
            return line[len("Error: ") :]
    last = next((line for line in reversed(tail) if line.strip()), "")
    return f"The earth4d-gis command stopped with exit status {returncode}" + (
        f" ({last.strip()})" if last else ""
    )


def wait_or_stop(
    proc: subprocess.Popen[str], cancelled: Callable[[], bool], error: Callable[[], BaseException]
) -> None:
    """Wait for ``proc`` to end, asking ``cancelled()`` every 0.1 s; when it says so, stop the process
    and raise ``error()``."""
    while proc.poll() is None:
        if cancelled():
            stop(proc)
            raise error()
        try:
            proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue


def start_reading(
    argv: list[str], sink: queue.Queue[tuple[str, str | None]]
) -> tuple[subprocess.Popen[str], list[threading.Thread]]:
    """Start ``argv`` (stdin closed, its own session, a clean environment) with a reader thread per output
    stream feeding ``sink`` (``pump``); a program that cannot start is a ``PluginError``."""
    from .errors import PluginError

    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=child_environment(),
            start_new_session=sys.platform != "win32",
        )
    except OSError as exc:
        raise PluginError(f"Cannot start {argv[0]}: {exc.strerror or exc}.") from None
    readers = [
        threading.Thread(target=pump, args=(stream, sink, tag), daemon=True)
        for stream, tag in ((proc.stdout, "out"), (proc.stderr, "err"))
    ]
    for reader in readers:
        reader.start()
    return proc, readers
