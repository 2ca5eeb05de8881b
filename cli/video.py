"""``earth4d-gis video``: the training-progression video from the per-epoch maps."""

from __future__ import annotations

from pathlib import Path

import click

from .options import FLOAT, OneLineCommand


@click.command("video", cls=OneLineCommand)
@click.option(
    "--input-dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder with the per-epoch maps (a training run's visualizations/ folder).",
)
@click.option(
    "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The MP4 file to write."
)
@click.option("--fps", default=4.0, show_default=True, type=FLOAT, help="Frames (epochs) per second.")
@click.option(
    "--pattern",
    default="bay_area_epoch_*_rgb.png",
    show_default=True,
    help="Which maps to use; frames are ordered by the number after 'epoch_' (9 before 10).",
)
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def command(input_dir: Path, output: Path, fps: float, pattern: str, overwrite: bool) -> None:
    """Make an MP4 of the training progression, one frame per epoch, in numeric epoch order."""
    from earth4d_gis.train.video import make_video

    path = make_video(input_dir, output, fps=fps, pattern=pattern, overwrite=overwrite)
    click.echo(f"wrote {path}")
