"""``earth4d-gis cluster``: unsupervised k-means classes of the embeddings, k given or by silhouette."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    FILE_PATH,
    OneLineCommand,
    open_sources,
    out_option,
    overwrite_option,
    run_options,
    run_with_progress,
    scaled,
    source_options,
)


@click.command("cluster", cls=OneLineCommand)
@source_options()
@click.option(
    "--k",
    type=click.IntRange(min=1),
    default=None,
    help="Number of clusters (default: best silhouette in --k-min..--k-max).",
)
@click.option("--k-min", type=click.IntRange(min=2), default=2, show_default=True, help="Smallest k tried.")
@click.option("--k-max", type=click.IntRange(min=2), default=12, show_default=True, help="Largest k tried.")
@click.option(
    "--sample-size",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Pixels the clusters are fitted on.",
)
@click.option(
    "--mini-batch/--full-batch",
    default=None,
    help="Mini-batch k-means (default: for areas over 2 million pixels).",
)
@click.option(
    "--centroids",
    "centroids_out",
    type=FILE_PATH,
    default=None,
    help="Centroids CSV (A00..A63 per cluster). Default: OUT with .centroids.csv.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Random seed (sample and k-means).",
)
@out_option
@overwrite_option
@run_options
def command(**options: Any) -> None:
    """Group the area's pixels into k clusters of similar embeddings (k-means, scikit-learn).

    Writes a class COG (cluster 1..k) and the centroids as CSV.

    Example: earth4d-gis cluster --input tile.tif --out clusters.tif
    """
    mode = options.pop("progress_mode")
    out: Path = options.pop("out")
    run = {"workers": options.pop("workers"), "scheduler": options.pop("scheduler")}

    def work(progress: Any, bar: bool) -> Path:
        from earth4d_gis.analysis.cluster import cluster_to_files, fit_clusters

        source = open_sources(options)[0]
        if progress:
            progress(0.0, "fitting the clusters on a pixel sample")
        clustering = fit_clusters(
            source, k=options["k"], k_range=(options["k_min"], options["k_max"]),
            sample_size=options["sample_size"], mini_batch=options["mini_batch"], seed=options["seed"],
        )  # fmt: skip
        click.echo(f"k = {clustering.k}" + (
            " (silhouette " + ", ".join(f"{k}: {v:.3f}" for k, v in clustering.silhouettes.items()) + ")"
            if clustering.silhouettes else ""), err=True)  # fmt: skip
        cluster_to_files(
            source, out, clustering=clustering, centroids_out=options["centroids_out"],
            overwrite=options["overwrite"], progress=scaled(progress, 0.2, 1.0), progress_bar=bar, **run,
        )  # fmt: skip
        return out

    run_with_progress(mode, work)
