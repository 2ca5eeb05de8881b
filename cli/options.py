"""Shared click options and parameter types (bbox, date, CRS, grid, elevation, output, progress).

Like rasterio's ``rio``: each subcommand composes these decorators, so the same option means the same
thing everywhere. Parse errors are one line (no usage dump), like every other error of the CLI.
Heavy libraries are imported only when a value is converted, so ``--help`` stays fast.
"""

from __future__ import annotations

import contextvars
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from earth4d_gis.conventions import DEFAULT_MAX_PIXELS
from earth4d_gis.errors import Earth4DError

F = TypeVar("F", bound=Callable[..., Any])


class UsageLineError(click.ClickException):
    """A usage error shown as one line (``Error: ...``) with click's usage-error exit status."""

    exit_code = 2


def _asks_for_json(args: list[str]) -> bool:
    """Whether raw arguments ask for ``--progress json`` (known before parsing succeeds)."""
    for i, arg in enumerate(args):
        if arg == "--progress=json" or (arg == "--progress" and i + 1 < len(args) and args[i + 1] == "json"):
            return True
    return False


def error_message(exc: BaseException) -> str:
    """The one line the CLI prints for a failure (without the ``Error: `` prefix)."""
    if isinstance(exc, click.ClickException):
        return exc.format_message()
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc)


_NUMBER = r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:e[+-]?\d+)?|-?inf|nan"
_PARAMETER = re.compile(
    rf"(?<![\w-])([a-z][a-z0-9_]*)=(True|False|None|'[^']*'|[A-Z][A-Z_]*|{_NUMBER}|\([^()]*\)|\[[^\[\]]*\])"
    r"(?![\w'])"
)
"""How the core names a parameter in a message (``earth4d_gis.errors``): ``overwrite=True``,
``output='int8'``, ``max_pixels=N``, ``epochs=0``, ``hidden=(64, 0)``."""


def flag_spelling(message: str, command: click.Command) -> str:
    """``message`` with the core's parameter spellings replaced by ``command``'s flags: ``overwrite=True``
    -> ``--overwrite``, ``output='int8'`` -> ``--output int8``, ``max_pixels=N`` -> ``--max-pixels N``,
    ``hidden=(64, 0)`` -> ``--hidden 64,0``. A number is divided by the option's ``scale`` when it has one
    (``time_limit=-60.0`` -> ``--time-limit -1``: minutes on the command line), ``None`` becomes its
    ``none_word``. Names that are not options of ``command`` stay as they are."""
    params = {
        param.name: param
        for param in command.params
        if isinstance(param, click.Option) and param.name and any(o.startswith("--") for o in param.opts)
    }

    def spell(match: re.Match[str]) -> str:
        name, value = match.groups()
        spelled = None if name not in params else _spelled(params[name], value)
        return match.group(0) if spelled is None else spelled

    return _PARAMETER.sub(spell, message)


def _spelled(param: click.Option, value: str) -> str | None:
    """The flag (and value) that says what the core's ``value`` says, or None when none does
    (``overwrite=False``: leaving the flag out is not a spelling)."""
    flag = max(param.opts, key=len)
    if value in ("True", "False"):
        if not param.is_flag:
            return None
        if value == "True":
            return flag
        return param.secondary_opts[0] if param.secondary_opts else None
    if value == "None":
        word = getattr(param, "none_word", None)
        return None if word is None else f"{flag} {word}"
    if value[0] in "([":
        return f"{flag} " + ",".join(item.strip() for item in value[1:-1].split(",") if item.strip())
    scale = getattr(param, "scale", None)
    if scale is not None and re.fullmatch(_NUMBER, value):
        return f"{flag} {float(value) / scale:g}"
    return f"{flag} {value.strip(chr(39))}"


class OneLineCommand(click.Command):
    """A command whose argument errors print one line instead of the usage text.

    Under ``--progress json`` every failure, an argument error included, also ends stdout with an
    ``{"event": "error", "message": ...}`` line.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        wants_json = _asks_for_json(args)  # before parsing, which consumes ``args``
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            error = UsageLineError(f"{exc.format_message()} (see --help)")
            if wants_json:
                _emit({"event": "error", "message": error.format_message()})
            raise error from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (Exception, KeyboardInterrupt) as exc:
            if isinstance(exc, Earth4DError) and exc.args:
                exc.args = (flag_spelling(str(exc), self), *exc.args[1:])
            if ctx.params.get("progress_mode") == "json":
                _emit({"event": "error", "message": error_message(exc)})
            raise


class DateType(click.ParamType):
    """YYYY, YYYY-MM-DD or an ISO datetime -> ``numpy.datetime64`` (the core's ``parse_time``, whose result
    ``RasterOptions`` and the rest of the core take as it is)."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from earth4d_gis.geodesy import parse_time

        try:
            return parse_time(value)
        except Earth4DError as exc:
            self.fail(str(exc), param, ctx)


class CRSType(click.ParamType):
    """Anything pyproj understands (EPSG:4326, 32633, a WKT or PROJ string) -> ``pyproj.CRS`` (the core's
    ``parse_crs``)."""

    name = "crs"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from earth4d_gis.raster.grid import parse_crs

        try:
            return parse_crs(value)
        except Earth4DError as exc:
            self.fail(str(exc), param, ctx)


class FiniteFloatType(click.ParamType):
    """A float that is a real number: ``nan`` and ``inf`` are refused, naming the option and value."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import math

        if isinstance(value, float) and math.isfinite(value):
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class IntListType(click.ParamType):
    """Comma-separated integers (``128,128``) -> a tuple of at least one int (the core checks the values)."""

    name = "integers"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            items = tuple(int(item) for item in str(value).replace(" ", "").split(",") if item)
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of integers", param, ctx)
        if not items:
            self.fail(f"{value!r} needs at least one integer", param, ctx)
        return items


FLOAT = FiniteFloatType()
INT_LIST = IntListType()
DATE = DateType()
CRS = CRSType()
FILE_PATH = click.Path(dir_okay=False, path_type=Path)
VECTOR_PATH = click.Path(path_type=Path)
"""A vector dataset: a file, or a folder such as a File Geodatabase (.gdb) or a shapefile folder."""


def _compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


model_option = click.option(
    "--model", "-m", "model_path", required=True, type=FILE_PATH, help="A model file (final_model.pt)."
)
out_option = click.option("--out", "-o", "out", required=True, type=FILE_PATH, help="Output file.")
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")


def date_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--date", "-d", type=DATE, required=required, help="YYYY-MM-DD, YYYY, or an ISO datetime."
    )


grid_options = _compose(
    click.option(
        "--bbox",
        nargs=4,
        type=FLOAT,
        default=None,
        metavar="W S E N",
        help="Area in --bbox-crs. In degrees W > E crosses the antimeridian.",
    ),
    click.option("--bbox-crs", type=CRS, default="EPSG:4326", show_default=True, help="CRS of --bbox."),
    click.option(
        "--aoi",
        type=VECTOR_PATH,
        default=None,
        help="Polygons (any vector file or folder, e.g. .gpkg, .shp, .gdb); outside them is nodata.",
    ),
    click.option(
        "--crs", type=CRS, default=None, help="Output CRS (default: UTM zone of the area's centre)."
    ),
    click.option(
        "--resolution",
        type=FLOAT,
        default=None,
        help="Pixel size in CRS units (default 10 m; degrees if geographic).",
    ),
    click.option("--width", type=click.IntRange(min=1), default=None, help="Output width in pixels."),
    click.option("--height", type=click.IntRange(min=1), default=None, help="Output height in pixels."),
)

elevation_options = _compose(
    click.option("--dem", type=FILE_PATH, default=None, help="Elevation raster (any GDAL format)."),
    click.option(
        "--elevation",
        type=FLOAT,
        default=None,
        help="One elevation in metres for all pixels (default: model prior).",
    ),
)

run_options = _compose(
    click.option(
        "--max-pixels",
        type=click.IntRange(min=1),
        default=DEFAULT_MAX_PIXELS,
        show_default=True,
        help="Refuse larger outputs.",
    ),
    click.option(
        "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Local processes."
    ),
    click.option(
        "--scheduler", default=None, metavar="ADDRESS", help="A dask.distributed scheduler address."
    ),
    click.option(
        "--progress",
        "progress_mode",
        type=click.Choice(["bar", "json", "none"]),
        default="bar",
        show_default=True,
        help="Progress bar on stderr, JSON lines on stdout, or nothing.",
    ),
)


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


PROGRESS_HOOK: contextvars.ContextVar[Callable[[float, str], None] | None] = contextvars.ContextVar(
    "earth4d_progress_hook", default=None
)
"""Set by a caller that runs a command in its own process (the QGIS plugin): progress goes to this callback
instead of stdout or a bar, whatever ``--progress`` says. The callback may raise ``CancelledError``."""


def run_with_progress(mode: str, work: Callable[[Any, bool], Path]) -> Path:
    """Run ``work(progress_callback, show_bar)`` reporting as ``mode`` asks (bar | json | none).

    In json mode stdout gets one object per line: progress events, then ``done`` with the path (an
    ``error`` event comes from ``OneLineCommand``). Otherwise the path is printed on stdout, so a script
    can capture it.
    """
    hook = PROGRESS_HOOK.get()
    if hook is not None:
        return work(hook, False)
    if mode != "json":
        path = work(None, mode == "bar")
        click.echo(str(path))
        return path

    def report(fraction: float, message: str) -> None:
        _emit({"event": "progress", "fraction": round(float(fraction), 4), "message": message})

    path = work(report, False)
    _emit({"event": "done", "path": str(path)})
    return path


def require_area(bbox: tuple[float, ...] | None, aoi: Path | None) -> tuple[float, ...] | None:
    """``--bbox`` as a tuple, or None when ``--aoi`` gives the area; one of them is required."""
    if not bbox and aoi is None:
        raise UsageLineError("give --bbox W S E N or --aoi FILE")
    return tuple(bbox) if bbox else None


# ---- embedding sources of the analysis commands: a model (area + date) or 64-band GeoTIFFs ----


def source_options(multiple: bool = False) -> Callable[[F], F]:
    """``--model`` + area + ``--date``, or ``--input`` GeoTIFF(s); ``multiple`` takes several dates/inputs."""
    many = " Repeat for a series." if multiple else ""
    return _compose(
        click.option(
            "--model", "-m", "model_path", type=FILE_PATH, default=None,
            help="A model file (final_model.pt): embeddings predicted for --bbox/--aoi and --date.",
        ),
        click.option(
            "--input", "-i", "inputs", type=FILE_PATH, multiple=True,
            help="A 64-band embedding GeoTIFF instead of a model: this project's output or an official "
            "AlphaEarth tile (int8, nodata -128)." + many,
        ),
        grid_options,
        click.option(
            "--date", "-d", "dates", type=DATE, multiple=True,
            help="YYYY-MM-DD, YYYY, or an ISO datetime (with --model)." + many,
        ),
        elevation_options,
    )  # fmt: skip


def open_sources(options: dict[str, Any], count: str = "one") -> list[Any]:
    """The embedding sources the options name (one per ``--input``, or the model once per ``--date``), taken
    out of a command's parameters (``source_options`` + ``run_options``' ``--max-pixels``).

    ``count``: "one" (exactly one source), "two-or-more" (change).
    """
    from earth4d_gis.analysis.source import model_source, open_raster
    from earth4d_gis.raster.options import RasterOptions

    model_path = options.pop("model_path")
    inputs, dates = tuple(options.pop("inputs")), tuple(options.pop("dates"))
    taken = {name: options.pop(name) for name in RasterOptions.field_names() if name in options}
    if taken.get("max_pixels") is None:
        taken.pop("max_pixels", None)
    if (model_path is None) == (not inputs):
        raise UsageLineError("give either --model (with an area and --date) or --input GEOTIFF")
    if inputs:
        if dates:
            raise UsageLineError("--date goes with --model; an --input raster has its own date")
        sources = [open_raster(path) for path in inputs]
    else:
        taken["bbox"] = require_area(taken.get("bbox"), taken.get("aoi"))
        if not dates:
            raise UsageLineError("--model needs --date")
        from earth4d_gis.predictor import load_model

        model = load_model(model_path)
        area = RasterOptions(**taken)
        sources = [model_source(model, area, date=date) for date in dates]
    if count == "one" and len(sources) != 1:
        raise UsageLineError("give one --input, or one --date with --model")
    if count == "two-or-more" and len(sources) < 2:
        raise UsageLineError("give two or more --date (with --model) or --input rasters")
    return sources


def scaled(progress: Callable[[float, str], None] | None, start: float, end: float) -> Any:
    """``progress`` mapped onto [start, end] (one stage of a command that has several)."""
    if progress is None:
        return None

    def report(fraction: float, message: str) -> None:
        progress(start + (end - start) * float(fraction), message)

    return report
