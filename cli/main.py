"""The ``earth4d-gis`` click group.

Commands live one per module and are imported only when run, so ``--help`` stays fast
(torch is not imported until a command needs it).
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading

import click

from earth4d_gis._version import __version__
from earth4d_gis.errors import Earth4DError

COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("earth4d_gis_cli.info", "Torch version, device, and the build status of each encoder backend."),
    "encoder-info": ("earth4d_gis_cli.encoder_info", "Print an encoder preset's true resolution table."),
    "train": ("earth4d_gis_cli.train", "Train a model on AlphaEarth, your own files, or the demo world."),
    "rasterize": ("earth4d_gis_cli.rasterize", "Write a 64-band, int8 or RGB GeoTIFF for an area and date."),
    "sample": ("earth4d_gis_cli.sample", "Predict the 64-D embedding at each point of a vector layer."),
    "similarity": (
        "earth4d_gis_cli.similarity",
        "Map cosine similarity to seed places, with a threshold mask.",
    ),
    "classify": ("earth4d_gis_cli.classify", "Classify embeddings from labelled points or polygons."),
    "regress": ("earth4d_gis_cli.regress", "Map a numeric attribute learned from labelled features."),
    "cluster": ("earth4d_gis_cli.cluster", "k-means clusters of the embeddings (k by silhouette)."),
    "change": ("earth4d_gis_cli.change", "Change between two dates or over a series, with a report."),
    "zonal": ("earth4d_gis_cli.zonal", "Mean embedding per polygon or grid cell, as a GeoPackage."),
    "video": ("earth4d_gis_cli.video", "Make the training-progression video from per-epoch maps."),
    "serve": ("earth4d_gis_cli.serve", "Serve a model as a live web map and XYZ/WMTS tiles for any date."),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs (or its help is shown)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[cmd_name][0])
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's signature
        previous = _terminate_like_ctrl_c()
        try:
            return super().invoke(ctx)
        except Earth4DError as exc:
            error = click.ClickException(str(exc))
            error.exit_code = exc.exit_code
            raise error from None
        except Terminated as exc:
            click.echo("Error: stopped by SIGTERM; its temporary files were removed", err=True)
            sys.exit(128 + exc.signum)
        except KeyboardInterrupt:
            click.echo("Error: interrupted (Ctrl-C); its temporary files were removed", err=True)
            sys.exit(130)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so temporaries are removed and partial work is cleaned up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


def _terminate_like_ctrl_c() -> object | None:
    """Make SIGTERM unwind like Ctrl-C (main thread only); returns the handler it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="earth4d-gis")
@click.option("-v", "--verbose", count=True, help="More log output: -v what is being done (info), -vv debug.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors (no warnings).")
def cli(verbose: int, quiet: bool) -> None:
    """earth4d-gis: AlphaEarth embeddings as a compact Earth4D neural field, served as GeoTIFFs.

    Train a model (`train`), then write maps for any area and date (`rasterize`), sample points
    (`sample`), find places like a given one (`similarity`) or browse it as a live map (`serve`).
    Run `earth4d-gis COMMAND --help` for details.
    """
    if quiet:
        level = logging.ERROR
    else:
        level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
