"""Child processes started from QGIS: a clean environment for another Python, and a polite stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

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
