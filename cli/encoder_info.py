"""``earth4d-gis encoder-info``: an encoder preset's true resolution table and sizes."""

from __future__ import annotations

import click

from .options import OneLineCommand


def _metres(value: float) -> str:
    if value >= 1000.0:
        return f"{value / 1000.0:,.1f} km"
    if value >= 1.0:
        return f"{value:,.1f} m"
    return f"{value * 100.0:.1f} cm"


def _hours(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 48.0:
        return f"{value:,.0f} h ({value / 24.0:,.1f} d)"
    return f"{value:,.2f} h"


@click.command("encoder-info", cls=OneLineCommand)
@click.option(
    "--preset",
    default="default",
    show_default=True,
    help="Encoder preset to describe: default or seed-162d.",
)
def command(preset: str) -> None:
    """Print, per grid and level, the true cell size (metres; hours for time), storage and table rows."""
    from earth4d_gis.encoder import EncoderConfig

    cfg = EncoderConfig.preset(preset)
    click.echo(f"Encoder preset {preset!r} (time span {cfg.time_span.start} .. {cfg.time_span.end})")
    header = (
        f"{'grid':<5} {'level':>5} {'cells per axis':>28} {'space cell':>11} {'time cell':>22} "
        f"{'storage':>8} {'rows':>11}"
    )
    click.echo(header)
    click.echo("-" * len(header))
    for row in cfg.resolution_table():
        cells = " x ".join(f"{n:,}" for n in row["resolution"])
        click.echo(
            f"{row['grid']:<5} {row['level']:>5} {cells:>28} {_metres(row['cell_m']):>11} "
            f"{_hours(row['cell_h']):>22} {row['storage']:>8} {row['rows']:>11,}"
        )
    click.echo("-" * len(header))
    click.echo(
        f"output dimension  {cfg.output_dim} "
        f"({cfg.features_per_level} features per level x {cfg.n_levels} levels)"
    )
    click.echo(f"parameters        {cfg.n_params:,}")
    click.echo(f"table size        {cfg.size_mb_fp32:,.1f} MB in fp32 (x3 to train with Adam)")
