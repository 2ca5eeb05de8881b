"""Background tasks of the settings page: making the plugin's environment, and the diagnostics report."""

from __future__ import annotations

import subprocess
from pathlib import Path

from qgis.core import QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from ..core.environment import Step
from ..core.process import child_environment
from ..core.setup_run import run_setup
from ..core.task import ReportingTask

DIAGNOSTICS_TIMEOUT_S = 600.0
"""``earth4d-gis info`` builds the native kernels the first time, which takes minutes on a small machine."""


class SetupTask(ReportingTask):
    """Runs the set-up steps in a worker thread; ``line`` carries each log line, ``stage`` each step's name.

    Outcome signals (main thread): ``ready(check_json)``, ``failed(message)``, ``cancelled()``.
    """

    line = pyqtSignal(str)
    stage = pyqtSignal(str)
    ready = pyqtSignal(str)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()

    def __init__(self, folder: Path, steps: list[Step]) -> None:
        super().__init__("Earth4D: setting up the Python environment")
        self.folder = folder
        self.steps = steps
        self.output = ""

    def _progress(self, fraction: float, message: str) -> None:
        self.setProgress(max(0.0, min(100.0, 100.0 * fraction)))
        if message:
            self.stage.emit(message)
            self.line.emit(f"== {message}")  # the log shows which step each output belongs to

    def work(self) -> None:
        self.output = run_setup(self.folder, self.steps, self._progress, self.line.emit, self.isCanceled)

    def finished(self, result: bool) -> None:
        if result:
            self.ready.emit(self.output.strip().splitlines()[-1] if self.output.strip() else "")
        elif self.stopped_by_cancel():
            self.cancelled.emit()
        else:
            self.failed.emit(self.error or "The set-up stopped without saying why.")


class DiagnosticsTask(QgsTask):
    """Runs ``earth4d-gis info`` in the configured environment; ``report(text)``: its output, or why not."""

    report = pyqtSignal(str)

    def __init__(self, command: list[str] | None, header: str) -> None:
        super().__init__("Earth4D: diagnostics", QgsTask.CanCancel)
        self.command = command
        self.header = header
        self.text = ""

    def run(self) -> bool:
        lines = [self.header]
        if self.command is None:
            lines.append("earth4d-gis info: no environment to ask (set one up first).")
        else:
            lines.append(f"$ {subprocess.list2cmdline([*self.command, 'info'])}")
            try:
                result = subprocess.run(
                    [*self.command, "info"],
                    capture_output=True,
                    text=True,
                    timeout=DIAGNOSTICS_TIMEOUT_S,
                    env=child_environment(),
                    check=False,
                )
                lines.append(result.stdout.rstrip())
                if result.returncode != 0:
                    lines.append(f"(exit status {result.returncode}) {result.stderr.strip()[-2000:]}")
            except (OSError, subprocess.SubprocessError) as exc:
                lines.append(f"earth4d-gis info could not run: {exc}")
        self.text = "\n".join(line for line in lines if line)
        return True

    def finished(self, result: bool) -> None:
        self.report.emit(self.text)
