"""``earth4d-gis serve``: a local tile server and web map of a model, for any date."""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import time
import webbrowser
from pathlib import Path

import click

from .options import OneLineCommand, UsageLineError, model_option

logger = logging.getLogger(__name__)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_PARENT_POLL_S = 1.0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port); one-line error when that fails."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UsageLineError(f"--host {host!r} is not an address of this machine") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageLineError(
                f"port {port} on {host} is already in use; choose another with --port"
            ) from None
        raise UsageLineError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _stop_with_parent(server: object) -> None:
    """Ask the server to stop when the process that started it has gone (its parent changes)."""
    parent = os.getppid()

    def watch() -> None:
        while not getattr(server, "should_exit", False):
            if os.getppid() != parent:
                logger.info("parent process %d has ended; stopping", parent)
                server.should_exit = True  # type: ignore[attr-defined]
                return
            time.sleep(_PARENT_POLL_S)

    threading.Thread(target=watch, name="earth4d-parent-watch", daemon=True).start()


@click.command("serve", cls=OneLineCommand)
@model_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. The default lets only this machine connect; 0.0.0.0 opens it to the network.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="TCP port; 0 picks a free one (the URL is printed on stdout).",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Threads computing tiles."
)
@click.option(
    "--cache-mb",
    type=click.FloatRange(min=0),
    default=256,
    show_default=True,
    help="Memory for rendered PNG tiles (least recently used go first).",
)
@click.option(
    "--oversample",
    type=click.IntRange(0, 3),
    default=0,
    show_default=True,
    help="How zoomed-out tiles are averaged. 0: each pixel is the unit-length mean of the predictions at "
    "its four corners (each shared with the neighbouring pixels), and cells whose corners agree are "
    "interpolated from a lattice half as dense: fastest, about 4x fewer predictions than 1. N: each pixel "
    "is the unit-length mean of up to 2^N x 2^N predictions inside it (exact, 4^N times the work). Tiles "
    "zoomed in beyond 10 m pixels are always interpolated from a 10 m lattice.",
)
@click.option(
    "--stop-with-parent",
    is_flag=True,
    help="Stop when the process that started this one ends (for plugins and scripts).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the map in the default web browser.")
def command(
    model_path: Path,
    host: str,
    port: int,
    workers: int,
    cache_mb: float,
    oversample: int,
    stop_with_parent: bool,
    open_browser: bool,
) -> None:
    """Serve a model as a live web map: XYZ tiles for any date, TileJSON, WMTS, and a map page at /.

    Tiles: /tiles/{z}/{x}/{y}.png?date=YYYY-MM-DD&style=rgb|bands, .../similarity.png?date=&lat=&lon=,
    .../change.png?from=&to=; /point?lat=&lon=&date= gives the 64-D embedding as JSON. Add the layer to
    QGIS as XYZ tiles or through /WMTSCapabilities.xml. Stop with Ctrl+C.

    Example: earth4d-gis serve --model final_model.pt
    """
    import uvicorn

    from earth4d_gis.predictor import load_model
    from earth4d_gis.serve import create_app

    model = load_model(model_path)
    app = create_app(model, workers=workers, cache_mb=cache_mb, oversample=oversample)
    sock = bind(host, port)
    url = _url(sock)
    reach = (
        "only this machine can connect"
        if host in LOCAL_HOSTS
        else "other machines on the network can connect: the server has no authentication"
    )
    click.echo(f"Serving {model_path.name} at {url} ({reach}); stop with Ctrl+C", nl=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    if stop_with_parent:
        _stop_with_parent(server)
    if open_browser:
        webbrowser.open(url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
