"""Small random model files for the tests: one factory for every suite (core, CLI, serve, plugin, bad input).

A random model is enough to test georeferencing, formats, safety and plumbing; its hash tables are drawn
uniform in [-1, 1] so that its field varies from pixel to pixel. ``conftest.make_model_file`` wraps
``write_random_model`` as a fixture.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from earth4d_gis.checkpoint import ModelBundle, save_model_file
from earth4d_gis.elevation_prior import ElevationPrior
from earth4d_gis.encoder import EncoderConfig
from earth4d_gis.encoder.smooth import SmoothConfig
from earth4d_gis.geodesy import normalized_coordinates
from earth4d_gis.model import Earth4DModel
from earth4d_gis.projection import RGBProjection

NO_FOURIER = SmoothConfig(n_per_scale=0)
"""Hash grids and height/latitude only: the random field varies from pixel to pixel, not smoothly."""
MUNICH = ((48.135,), (11.575,), (520.0,))
"""(lats, lons, elevations) of the default elevation prior: one point in Munich at 520 m."""


def random_bundle(
    config: EncoderConfig,
    *,
    seed: int = 3,
    smooth: SmoothConfig | None = NO_FOURIER,
    randomize: str = "tables",
    prior: tuple[Sequence[float], Sequence[float], Sequence[float]] = MUNICH,
    rgb_from: int | tuple[Sequence[float], str, Any] = 300,
    **bundle_fields: Any,
) -> ModelBundle:
    """A randomly initialised ``Earth4DModel`` (hidden 32) with an elevation prior and an RGB projection.

    ``randomize``: "tables" (the hash tables) or "encoder" (every encoder parameter) drawn in [-1, 1].
    ``rgb_from``: a number of random normal vectors to fit the projection to (as an unknown model would
    see), or ``(area W S E N, date, elevations)`` to fit it to the model's own output at random points of
    the area (so the RGB uses the whole colour range there). ``smooth=None`` keeps the default Fourier
    features. Other keywords go to ``ModelBundle`` (metrics, dataset_fingerprint, ...).
    """
    torch.manual_seed(seed)
    kwargs = {} if smooth is None else {"smooth": smooth}
    model = Earth4DModel(config, hidden=(32,), dropout=0.0, **kwargs)
    with torch.no_grad():
        parameters = model.encoder.tables.values() if randomize == "tables" else model.encoder.parameters()
        for parameter in parameters:
            parameter.uniform_(-1.0, 1.0)
    model.eval()
    lat, lon, elev = (np.asarray(v, dtype=np.float64) for v in prior)
    rng = np.random.default_rng(0)
    if isinstance(rgb_from, int):
        fitted = rng.standard_normal((rgb_from, 64))
    else:
        (west, south, east, north), date, elevations = rgb_from
        lat = rng.uniform(south, north, 2000)
        lon = rng.uniform(west, east, 2000)
        elev = elevations(rng) if callable(elevations) else np.full(2000, float(elevations))
        coords = torch.from_numpy(normalized_coordinates(lat, lon, elev, date, config.time_span))
        with torch.no_grad():
            fitted = model(coords).numpy()
    return ModelBundle(
        model=model,
        time_span=config.time_span,
        rgb_projection=RGBProjection.fit(fitted),
        elevation_prior=ElevationPrior.fit(lat, lon, elev),
        **bundle_fields,
    )


def write_random_model(path: Path, config: EncoderConfig, **options: Any) -> Path:
    """``random_bundle(config, **options)`` saved as a model file at ``path``."""
    return save_model_file(random_bundle(config, **options), path)
