"""Live layers: ``earth4d-gis serve`` in a subprocess, its tiles on the map as an XYZ layer of any date.

One server per model file runs through the configured environment (the same command line the subprocess
runner uses), on a free port of 127.0.0.1 (``--port 0``; the server prints its URL). It is stopped when the
plugin unloads or QGIS quits, and stops by itself should QGIS die (``--stop-with-parent``). Waiting for the
server to start never blocks the interface: a timer polls for its first line.
"""

from __future__ import annotations

import logging
import queue
import re
import subprocess
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qgis.core import QgsDataSourceUri, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QObject, QTimer, pyqtSignal

from ..core import settings
from ..core.errors import PluginError
from ..core.process import start_reading, stderr_message, stop
from ..core.runners import resolve_cli
from .results import add_to_group

LOG = logging.getLogger(__name__)
URL_PATTERN = re.compile(r"(http://\S+/)")
START_TIMEOUT_MS = 180_000
POLL_MS = 100
STDERR_LINES_KEPT = 20
"""The last lines of the server's stderr kept for its error message."""
MAX_ZOOM = 18
STYLE_LABELS = {"rgb": "RGB", "bands": "A01/A16/A09"}


def xyz_uri(base_url: str, date: str, style: str = "rgb") -> str:
    """The ``wms`` provider's data source for the server's XYZ tiles of ``date`` in ``style``."""
    uri = QgsDataSourceUri()
    uri.setParam("type", "xyz")
    uri.setParam("url", f"{base_url}tiles/{{z}}/{{x}}/{{y}}.png?date={date}&style={style}")
    uri.setParam("zmin", "0")
    uri.setParam("zmax", str(MAX_ZOOM))
    return bytes(uri.encodedUri()).decode()


def layer_name(model: Path, date: str, style: str) -> str:
    return f"{model.stem} {date} live ({STYLE_LABELS.get(style, style)})"


class LiveServer(QObject):
    """One ``earth4d-gis serve --port 0`` process; emits ``started(url)`` or ``failed(message)`` once."""

    started = pyqtSignal(str)
    failed = pyqtSignal(str)

    def __init__(self, command: list[str], model: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.command = list(command)
        self.model = model
        self.url: str | None = None
        self.proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES_KEPT)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._waited_ms = 0

    def start(self) -> None:
        argv = [*self.command, "serve", "--model", str(self.model), "--port", "0", "--stop-with-parent"]
        LOG.info("starting %s", subprocess.list2cmdline(argv))
        self.proc, _ = start_reading(argv, self._lines)
        self._timer.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _poll(self) -> None:
        self._waited_ms += POLL_MS
        while True:
            try:
                tag, line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                continue
            if tag == "err":
                self._stderr.append(line.rstrip())
            elif self.url is None and (match := URL_PATTERN.search(line)):
                self.url = match.group(1)
                self._timer.stop()
                self.started.emit(self.url)
                return
        if self.proc is not None and self.proc.poll() is not None:
            self._timer.stop()
            self._drain_stderr()
            self.failed.emit(stderr_message(self._stderr, self.proc.returncode))
        elif self._waited_ms >= START_TIMEOUT_MS:
            self._timer.stop()
            self.stop()
            self.failed.emit(f"earth4d-gis serve did not start within {START_TIMEOUT_MS // 1000} s")

    def _drain_stderr(self) -> None:
        if self.proc is not None and self.proc.stderr is not None:
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                return
        while True:
            try:
                tag, line = self._lines.get(timeout=0.5)
            except queue.Empty:
                return
            if line is None:
                continue
            if tag == "err":
                self._stderr.append(line.rstrip())

    def stop(self) -> None:
        """End the server (SIGINT, then kill after a grace period)."""
        self._timer.stop()
        if self.proc is not None:
            stop(self.proc)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


@dataclass
class LiveLayer:
    layer_id: str
    model: Path
    style: str
    date: str


class LiveLayers(QObject):
    """The plugin's live layers and their servers (one per model file)."""

    added = pyqtSignal(str)

    def __init__(self, report_error: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.report_error = report_error
        self.servers: dict[Path, LiveServer] = {}
        self.layers: dict[str, LiveLayer] = {}

    def add(self, model: Path, date: str, style: str = "rgb") -> None:
        """Add a live layer of ``model`` at ``date``, starting its server first if needed."""
        model = Path(model)
        if not model.is_file():
            raise PluginError(f"Model file {model} does not exist.")
        if style not in STYLE_LABELS:
            raise PluginError(f"Unknown live layer style {style!r}.")
        model = model.resolve()
        server = self.servers.get(model)
        if server is not None and server.url is not None and server.running:
            self._add_layer(server.url, model, date, style)
            return
        if server is None or not server.running:
            server = LiveServer(resolve_cli(settings.cli_path()), model, self)
            server.started.connect(lambda url: self._add_layer(url, model, date, style))
            server.failed.connect(lambda message: self._failed(model, message))
            self.servers[model] = server
            server.start()
        else:
            server.started.connect(lambda url: self._add_layer(url, model, date, style))

    def _failed(self, model: Path, message: str) -> None:
        self.servers.pop(model, None)
        self.report_error(f"The live layer server for {model.name} failed: {message.rstrip('.')}.")

    def _add_layer(self, url: str, model: Path, date: str, style: str) -> None:
        layer = QgsRasterLayer(xyz_uri(url, date, style), layer_name(model, date, style), "wms")
        if not layer.isValid():
            self.report_error(f"QGIS cannot open the live layer at {url}.")
            return
        add_to_group(layer)
        self.layers[layer.id()] = LiveLayer(layer.id(), model, style, date)
        self.added.emit(layer.id())

    def latest(self) -> QgsRasterLayer | None:
        """The most recently added live layer still in the project."""
        for layer_id in reversed(list(self.layers)):
            layer = QgsProject.instance().mapLayer(layer_id)
            if layer is not None:
                return layer
            del self.layers[layer_id]
        return None

    def is_live(self, layer: object) -> bool:
        return isinstance(layer, QgsRasterLayer) and layer.id() in self.layers

    def set_date(self, layer: QgsRasterLayer, date: str) -> None:
        """Show ``layer`` (a live layer) at another date: same server, new tile URL and name."""
        live = self.layers.get(layer.id())
        server = self.servers.get(live.model) if live is not None else None
        if live is None or server is None or server.url is None or not server.running:
            raise PluginError(f"{layer.name()} is not a running live layer; add it again.")
        live.date = date
        layer.setDataSource(
            xyz_uri(server.url, date, live.style), layer_name(live.model, date, live.style), "wms"
        )
        layer.triggerRepaint()

    def stop_all(self) -> None:
        """Stop every server (their layers stay in the project but show nothing)."""
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
