"""Run the set-up steps of the plugin's environment: one process at a time, its output to a log, with cancel.

No Qt: ``SetupTask`` (gui) calls ``run_setup`` in a worker thread and turns the callbacks into signals.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .environment import SetupError, Step, discard_partial, finish_install, plain_error
from .errors import Cancelled
from .process import child_environment, stop, wait_or_stop

Progress = Callable[[float, str], None]
LogLine = Callable[[str], None]
CancelPoll = Callable[[], bool]
CANCELLED = "Set-up cancelled; the previous environment (if any) is unchanged."


def _pump(stream: Any, sink: queue.Queue[str | None]) -> None:
    try:
        for line in iter(stream.readline, ""):
            sink.put(line)
    except (OSError, ValueError):
        pass
    sink.put(None)


def run_step(step: Step, log: LogLine, cancel: CancelPoll, advance: Callable[[int], None]) -> str:
    """Run one step to its end and return its output; ``SetupError`` in plain words if it fails."""
    log(f"$ {subprocess.list2cmdline(step.argv)}")
    env = {**child_environment(), **step.env}
    try:
        proc = subprocess.Popen(
            step.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=env,
            start_new_session=sys.platform != "win32",
        )
    except OSError as exc:
        raise SetupError(f"Cannot start {step.argv[0]}: {exc.strerror or exc}.") from None
    lines: list[str] = []
    queue_: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(proc.stdout, queue_), daemon=True)
    reader.start()
    try:
        while True:
            if cancel():
                stop(proc)
                raise Cancelled(CANCELLED)
            try:
                line = queue_.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            lines.append(line.rstrip())
            log(lines[-1])
            advance(len(lines))
        wait_or_stop(proc, cancel, lambda: Cancelled(CANCELLED))
    finally:
        if proc.poll() is None:
            stop(proc)
        reader.join(timeout=2.0)
        if proc.stdout is not None:
            proc.stdout.close()
    output = "\n".join(lines)
    if proc.returncode != 0:
        raise SetupError(plain_error(output, proc.returncode, step.label))
    return output


def run_setup(folder: Path, steps: list[Step], progress: Progress, log: LogLine, cancel: CancelPoll) -> str:
    """Run ``steps`` in order, then move the finished environment onto ``folder``; return the check's output.

    Progress moves through each step by its weight (within a step, towards its end as output arrives, since
    pip does not say how much is left). A failure or a cancel removes the staging folder.
    """
    total = sum(step.weight for step in steps) or 1.0
    done = 0.0
    output = ""
    discard_partial(folder)
    try:
        for step in steps:
            start = done / total
            share = step.weight / total
            progress(start, step.label)

            def advance(count: int, start: float = start, share: float = share) -> None:
                progress(start + share * (1.0 - 0.97**count), "")

            output = run_step(step, log, cancel, advance)
            done += step.weight
        finish_install(folder, output.strip().splitlines()[-1] if output.strip() else "{}")
    except BaseException:
        discard_partial(folder)
        raise
    progress(1.0, "The environment is ready")
    return output
