"""The background task that predicts one raster; the QGIS interface stays responsive while it runs."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from qgis.core import Qgis, QgsMessageLog, QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from .errors import Cancelled, PluginError
from .request import LayerRequest
from .runners import Runner

LOG = logging.getLogger(__name__)
LOG_TAG = "Earth4D"


def unexpected_error_message(exc: BaseException) -> str:
    """One sentence for a bug (the traceback goes to the Python log, never to a dialog)."""
    LOG.debug("unexpected error:\n%s", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return f"Earth4D failed unexpectedly ({type(exc).__name__}: {detail})."


class ReportingTask(QgsTask):
    """A cancellable task whose work reports instead of raising: ``run`` calls ``work`` in the worker thread
    and keeps a cancel or an error (one sentence) for ``finished`` on the main thread."""

    def __init__(self, description: str) -> None:
        super().__init__(description, QgsTask.CanCancel)
        self.error: str | None = None
        self.was_cancelled = False

    def work(self) -> None:
        """The task's job (worker thread: no widgets, no project access)."""
        raise NotImplementedError

    def run(self) -> bool:
        try:
            self.work()
        except Cancelled:
            self.was_cancelled = True
            return False
        except PluginError as exc:
            self.error = str(exc)
            return False
        except Exception as exc:  # noqa: BLE001 - a task must report, never raise, in its thread
            self.error = unexpected_error_message(exc)
            return False
        return True

    def stopped_by_cancel(self) -> bool:
        """After a failed ``run``: True when the user cancelled (not an error)."""
        return self.was_cancelled or (self.isCanceled() and self.error is None)


class RasterizeTask(ReportingTask):
    """Runs ``runner.rasterize(request)`` in a worker thread; ``finished`` reports on the main thread.

    Signals: ``succeeded(path)``, ``failed(message)`` (one sentence), ``cancelled()``.
    """

    succeeded = pyqtSignal(str)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()

    def __init__(self, request: LayerRequest, runner: Runner) -> None:
        super().__init__(request.task_name())
        self.request = request
        self.runner = runner
        self.result_path: Path | None = None
        self.last_message = ""

    def _progress(self, fraction: float, message: str) -> None:
        self.last_message = message
        self.setProgress(max(0.0, min(100.0, 100.0 * float(fraction))))

    def work(self) -> None:
        self.result_path = self.runner.rasterize(self.request, self._progress, self.isCanceled)

    def finished(self, result: bool) -> None:
        """Main thread: emit the outcome; the log gets one line either way."""
        if result and self.result_path is not None:
            QgsMessageLog.logMessage(f"Wrote {self.result_path} ({self.runner.name}).", LOG_TAG, Qgis.Info)
            self.succeeded.emit(str(self.result_path))
        elif self.stopped_by_cancel():
            QgsMessageLog.logMessage(f"Cancelled: {self.request.layer_name()}.", LOG_TAG, Qgis.Info)
            self.cancelled.emit()
        else:
            # Logged once, by whoever shows it (the plugin's message bar report).
            self.failed.emit(self.error or "Earth4D stopped without a result.")
