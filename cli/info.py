"""``earth4d-gis info``: what this installation can run on."""

from __future__ import annotations

import click


@click.command("info")
def command() -> None:
    """Print the torch version, the compute device, the CUDA toolkit, and each encoder backend with its
    build status (building the native ones if needed)."""
    import torch

    from earth4d_gis._version import __version__
    from earth4d_gis.encoder import available_backends, native

    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    try:
        nvcc, release = native.nvcc_version()
        toolkit = f"nvcc {release} ({nvcc})"
    except native.NativeBuildError as exc:
        toolkit = str(exc)
    click.echo(f"earth4d-gis {__version__}")
    click.echo(f"torch       {torch.__version__} (CUDA {torch.version.cuda or 'none: a CPU-only build'})")
    click.echo(f"device      {device}")
    click.echo(f"toolkit     {toolkit}")
    click.echo("backends:")
    for name, status in available_backends().items():
        click.echo(f"  {name:<10} {status}")
