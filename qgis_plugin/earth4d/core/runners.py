"""Run the core: as the earth4d-gis CLI of an environment (the default), or in QGIS's own Python if chosen.

Both runners take a request, a ``progress(fraction, message)`` callback and a ``cancel() -> bool`` poll,
and raise ``PluginError`` (one sentence) or ``Cancelled``. Both write through ``staged_output`` so that a
failure or a cancel leaves no file under the final name.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from . import settings
from .environment import CLI_FROM_PYTHON, is_environment, venv_python
from .errors import Cancelled, PluginError
from .model_cache import LOADED_MODELS, ModelCache
from .process import start_reading, stderr_message, stop, wait_or_stop
from .request import LayerKind, LayerRequest, SampleRequest
from .staging import staged_output

LOG = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
CancelPoll = Callable[[], bool]


class Runner(Protocol):
    """Where the core runs."""

    name: str

    def rasterize(self, request: LayerRequest, progress: Progress, cancel: CancelPoll) -> Path: ...

    def sample(self, request: SampleRequest, progress: Progress, cancel: CancelPoll) -> Path: ...

    def run_command(self, arguments: list[str], progress: Progress, cancel: CancelPoll) -> None: ...


def core_import_problem() -> str | None:
    """None when the core imports in this Python, else why not (one line)."""
    try:
        importlib.import_module("earth4d_gis.raster")
        importlib.import_module("earth4d_gis.predictor")
    except Exception as exc:  # noqa: BLE001 - any import failure means "use the subprocess"
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


def choose_runner(mode: settings.RunMode | None = None, cli_path: str | None = None) -> Runner:
    """The runner for ``mode`` (default: the saved setting, which defaults to the subprocess)."""
    mode = settings.run_mode() if mode is None else settings.RunMode(mode)
    if mode is settings.RunMode.IN_PROCESS:
        problem = core_import_problem()
        if problem:
            raise PluginError(
                f"earth4d_gis does not import in QGIS's Python ({problem}); "
                "choose the plugin's environment in the Earth4D settings."
            )
        return InProcessRunner()
    return SubprocessRunner(resolve_cli(settings.cli_path() if cli_path is None else cli_path))


def _is_core_error(exc: BaseException) -> bool:
    from earth4d_gis.errors import Earth4DError

    return isinstance(exc, Earth4DError)


def in_python_thread(work: Callable[[], Any]) -> Any:
    """Run ``work`` in a fresh thread that Python creates, wait for it, and return or raise its outcome.

    QGIS runs tasks and Processing algorithms on Qt's pooled threads, which Python did not create.
    pyproj >= 3.7 keeps each thread's PROJ context in thread-specific storage that outlives the Python
    thread state on such threads, so its second use on a reused Qt thread crashes QGIS (pyproj issues
    1509 and 1622). A short-lived Python thread gets a context of its own and frees it when it ends.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="earth4d-core", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


class InProcessRunner:
    """Calls ``earth4d_gis`` directly; the model stays loaded between runs in ``models``."""

    name = "in-process"

    def __init__(self, models: ModelCache = LOADED_MODELS) -> None:
        self.models = models

    def _model(self, path: Path) -> Any:
        from earth4d_gis.predictor import load_model

        def load(model_path: Path) -> Any:
            try:
                return load_model(model_path)
            except Exception as exc:
                if _is_core_error(exc):
                    raise
                detail = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                raise PluginError(
                    f"Model file {model_path} is not a readable earth4d-gis model ({detail})."
                ) from None

        return self.models.get(path, load)

    def _call(self, work: Callable[[], Any]) -> Any:
        from earth4d_gis.errors import CancelledError, Earth4DError

        try:
            return in_python_thread(work)
        except CancelledError:
            raise Cancelled() from None
        except Earth4DError as exc:
            raise PluginError(_sentence(str(exc))) from None

    def run_command(self, arguments: list[str], progress: Progress, cancel: CancelPoll) -> None:
        """Run one ``earth4d-gis`` command (the analyses) in this process, its progress to ``progress``.

        The command's own argument checks apply unchanged; cancelling raises from inside its progress
        reports, so it stops at the next window and removes what it had staged.
        """
        import click

        from earth4d_gis.errors import CancelledError
        from earth4d_gis_cli.main import cli
        from earth4d_gis_cli.options import PROGRESS_HOOK

        def report(fraction: float, message: str) -> None:
            if cancel() and fraction < 1.0:  # at 1.0 the outputs are written: too late to cancel
                raise CancelledError("cancelled")
            progress(fraction, message)

        def work() -> None:
            PROGRESS_HOOK.set(report)
            try:
                cli.main(args=list(arguments), prog_name="earth4d-gis", standalone_mode=False)
            except click.ClickException as exc:
                if cancel():
                    raise CancelledError("cancelled") from None
                raise PluginError(_sentence(exc.format_message())) from None

        self._call(work)

    def rasterize(self, request: LayerRequest, progress: Progress, cancel: CancelPoll) -> Path:
        from earth4d_gis.raster import rasterize

        if request.kind.is_analysis:
            with staged_output(request.output, request.overwrite) as target:
                self.run_command(analysis_arguments(request, target), progress, cancel)
            return request.output
        with staged_output(request.output, request.overwrite) as target:
            self._call(
                lambda: rasterize(
                    self._model(request.model),
                    target,
                    bbox=request.bbox,
                    date=request.date,
                    aoi=request.aoi,
                    crs=request.crs,
                    resolution=request.resolution,
                    output=request.kind.value,
                    point=request.point,
                    progress=progress,
                    cancel=cancel,
                )
            )
            if cancel():
                raise Cancelled()
        return request.output

    def sample(self, request: SampleRequest, progress: Progress, cancel: CancelPoll) -> Path:
        from earth4d_gis.raster import sample_points

        if cancel():
            raise Cancelled()
        progress(0.0, "sampling the model at the points")
        with staged_output(request.output, overwrite=True) as target:
            self._call(
                lambda: sample_points(
                    self._model(request.model),
                    request.points,
                    target,
                    date=request.date,
                    date_column=request.date_field,
                )
            )
            if cancel():
                raise Cancelled()
        progress(1.0, "done")
        return request.output


def resolve_cli(configured: str, managed: str | None = None) -> list[str]:
    """The command line that starts ``earth4d-gis``: the executable or python the user chose, else the
    plugin's own environment (``managed``, default: the settings' folder), else ``earth4d-gis`` on PATH."""
    path = configured.strip()
    if not path:
        folder = settings.environment_folder() if managed is None else managed
        if folder and is_environment(folder):
            return [str(venv_python(folder)), "-c", CLI_FROM_PYTHON]
        found = shutil.which("earth4d-gis")
        if not found:
            raise PluginError(
                "The earth4d-gis environment is not set up yet: press Set up in the Earth4D settings "
                "(Settings → Options → Earth4D, or the Settings button of the Earth4D dialog)."
            )
        return [found]
    exe = Path(path).expanduser()
    if not exe.is_file() or not os.access(exe, os.X_OK):
        raise PluginError(f"The earth4d-gis environment {path} is not an executable file.")
    if exe.name.lower().startswith("python"):
        return [str(exe), "-c", CLI_FROM_PYTHON]
    return [str(exe)]


def rasterize_arguments(request: LayerRequest, out: Path) -> list[str]:
    """CLI arguments for one raster request (``similarity`` is its own command)."""
    args = ["similarity"] if request.kind is LayerKind.SIMILARITY else ["rasterize"]
    args += ["--model", str(request.model), "--date", request.date, "--out", str(out), "--progress", "json"]
    if request.kind is not LayerKind.SIMILARITY:
        args += ["--output", request.kind.value]
    elif request.point is not None:
        args += ["--point", repr(request.point[0]), repr(request.point[1])]
    return args + _area_arguments(request)


def _area_arguments(request: LayerRequest) -> list[str]:
    """``--bbox`` and, when set, ``--aoi``, ``--crs`` and ``--resolution``: where every command draws."""
    west, south, east, north = request.bbox
    args = ["--bbox", repr(west), repr(south), repr(east), repr(north)]
    if request.aoi is not None:
        args += ["--aoi", str(request.aoi)]
    if request.crs:
        args += ["--crs", request.crs]
    if request.resolution is not None:
        args += ["--resolution", repr(request.resolution)]
    return args


def analysis_arguments(request: LayerRequest, out: Path) -> list[str]:
    """CLI arguments (no ``--progress``) for the dialog's analysis kinds: ``cluster`` (k by silhouette) and
    ``change`` from ``since`` to ``date``; their side files (centroids, report) are written beside ``out``."""
    if request.kind is LayerKind.CLUSTERS:
        args = ["cluster", "--date", request.date]
    elif request.kind is LayerKind.CHANGE:
        args = ["change", "--date", str(request.since), "--date", request.date]
    else:
        raise PluginError(f"{request.kind.label} is not an analysis.")
    args += ["--model", str(request.model), "--out", str(out)]
    return args + _area_arguments(request)


def sample_arguments(request: SampleRequest, out: Path) -> list[str]:
    """CLI arguments for sampling points."""
    args = ["sample", "--model", str(request.model), "--points", str(request.points), "--out", str(out)]
    if request.date:
        args += ["--date", request.date]
    if request.date_field:
        args += ["--date-column", request.date_field]
    return args


def _sentence(message: str) -> str:
    text = " ".join(message.strip().split()) or "The core failed without a message"
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


class SubprocessRunner:
    """Runs ``earth4d-gis ... --progress json`` and turns its JSON lines into progress and errors."""

    name = "subprocess"

    def __init__(self, command: list[str]) -> None:
        self.command = list(command)

    def rasterize(self, request: LayerRequest, progress: Progress, cancel: CancelPoll) -> Path:
        with staged_output(request.output, request.overwrite) as target:
            if request.kind.is_analysis:
                self.run_command(analysis_arguments(request, target), progress, cancel)
            else:
                self.run(rasterize_arguments(request, target), progress, cancel)
        return request.output

    def run_command(self, arguments: list[str], progress: Progress, cancel: CancelPoll) -> None:
        """Run one ``earth4d-gis`` command (the analyses) with ``--progress json``."""
        self.run([*arguments, "--progress", "json"], progress, cancel)

    def sample(self, request: SampleRequest, progress: Progress, cancel: CancelPoll) -> Path:
        with staged_output(request.output, overwrite=True) as target:
            progress(0.0, "sampling the model at the points")
            self.run(sample_arguments(request, target), progress, cancel, reports_json=False)
            progress(1.0, "done")
        return request.output

    def run(
        self, arguments: list[str], progress: Progress, cancel: CancelPoll, reports_json: bool = True
    ) -> None:
        """Run one CLI command to its end; raise ``Cancelled`` (after ending it) or ``PluginError``.

        ``reports_json``: the command prints JSON events and ends with ``done`` (``--progress json``);
        otherwise success is a zero exit status.
        """
        argv = self.command + arguments
        LOG.info("running %s", subprocess.list2cmdline(argv))
        lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        proc, readers = start_reading(argv, lines)
        error: str | None = None
        done = False
        stderr_tail: list[str] = []
        open_streams = 2
        try:
            while open_streams:
                if cancel():
                    stop(proc)
                    raise Cancelled()
                try:
                    tag, line = lines.get(timeout=0.1)
                except queue.Empty:
                    continue
                if line is None:
                    open_streams -= 1
                    continue
                if tag == "err":
                    stderr_tail = (stderr_tail + [line.rstrip()])[-20:]
                    continue
                event = _parse_event(line)
                if event is None:
                    continue
                kind = event.get("event")
                if kind == "progress":
                    progress(float(event.get("fraction", 0.0)), str(event.get("message", "")))
                elif kind == "error":
                    error = str(event.get("message", ""))
                elif kind == "done":
                    done = True
            wait_or_stop(proc, cancel, Cancelled)
        finally:
            if proc.poll() is None:
                stop(proc)
            for reader in readers:
                reader.join(timeout=2.0)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        if error is not None:
            raise PluginError(_sentence(error))
        if proc.returncode != 0 or (reports_json and not done):
            raise PluginError(_sentence(stderr_message(stderr_tail, proc.returncode)))


def _parse_event(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not text.startswith("{"):
        if text:
            LOG.debug("earth4d-gis: %s", text)
        return None
    try:
        event = json.loads(text)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None
