"""Maps and curves drawn during training: the Bay Area side by side (truth | prediction), its error
heatmap, and the loss / MAPE / cosine curves.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot global state), so this
works headless and inside other applications.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

with warnings.catch_warnings():
    # A venv whose matplotlib differs from the system's mpl_toolkits (QGIS-compatible venvs made with
    # --system-site-packages) warns on import that 3-D axes are unavailable; no map here is 3-D.
    warnings.filterwarnings("ignore", message="Unable to import Axes3D")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

from ..files import atomic_output, check_output_folder
from ..projection import RGBProjection

BAY_AREA = (36.9, 38.9, -123.5, -121.0)
"""(south, north, west, east) in degrees."""


@dataclass
class MapView:
    """Where the per-epoch maps are drawn and the ground truth there.

    ``shape`` is (rows, cols) for a regular grid (north row first), or ``None`` for scattered points.
    """

    latitude: np.ndarray
    longitude: np.ndarray
    elevation: np.ndarray
    time: np.ndarray
    truth: np.ndarray
    shape: tuple[int, int] | None
    bbox: tuple[float, float, float, float] = BAY_AREA
    label: str = ""

    def __len__(self) -> int:
        return int(self.latitude.shape[0])


def grid_points(
    bbox: tuple[float, float, float, float], shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre latitudes and longitudes (flattened, north row first) of a regular grid over ``bbox``."""
    south, north, west, east = bbox
    rows, cols = shape
    lat = north - (np.arange(rows) + 0.5) * (north - south) / rows
    lon = west + (np.arange(cols) + 0.5) * (east - west) / cols
    lat_grid, lon_grid = np.meshgrid(lat, lon, indexing="ij")
    return lat_grid.reshape(-1), lon_grid.reshape(-1)


def points_in_bbox(lat: np.ndarray, lon: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """Boolean mask of the points inside ``bbox``."""
    south, north, west, east = bbox
    return (lat >= south) & (lat <= north) & (lon >= west) & (lon <= east)


def _save(fig: Figure, path: Path) -> Path:
    """Render to a temporary PNG beside ``path``, then rename it into place (mode per umask)."""
    check_output_folder(path.parent)
    with atomic_output(path) as tmp:
        FigureCanvasAgg(fig).print_png(tmp)
    return path


def _draw_rgb(ax: Any, view: MapView, rgb: np.ndarray, title: str) -> None:
    south, north, west, east = view.bbox
    if view.shape is not None:
        ax.imshow(rgb.reshape(*view.shape, 3), extent=(west, east, south, north), interpolation="nearest")
    else:
        ax.scatter(view.longitude, view.latitude, c=rgb, s=6, linewidths=0)
        ax.set_xlim(west, east)
        ax.set_ylim(south, north)
    ax.set_aspect(1.0 / np.cos(np.radians(0.5 * (south + north))))
    ax.set_title(title)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")


def render_rgb_pair(
    view: MapView, prediction: np.ndarray, projection: RGBProjection, path: Path, title: str
) -> Path:
    """Ground truth and prediction side by side, both through the same RGB projection."""
    fig = Figure(figsize=(11, 4.8), dpi=100)
    axes = fig.subplots(1, 2)
    _draw_rgb(axes[0], view, projection.to_unit_rgb(view.truth), "ground truth")
    _draw_rgb(axes[1], view, projection.to_unit_rgb(prediction), "prediction")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def render_error(view: MapView, prediction: np.ndarray, path: Path, title: str, vmax: float = 10.0) -> Path:
    """Heatmap of the per-point error, mean(|pred - truth|) / 2 * 100 (the original's MAPE per point)."""
    error = np.mean(np.abs(np.asarray(prediction, np.float64) - view.truth), axis=1) / 2.0 * 100.0
    south, north, west, east = view.bbox
    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    ax = fig.subplots()
    if view.shape is not None:
        image = ax.imshow(
            error.reshape(view.shape), extent=(west, east, south, north), cmap="magma", vmin=0.0, vmax=vmax
        )
    else:
        image = ax.scatter(view.longitude, view.latitude, c=error, s=6, cmap="magma", vmin=0.0, vmax=vmax)
        ax.set_xlim(west, east)
        ax.set_ylim(south, north)
    ax.set_aspect(1.0 / np.cos(np.radians(0.5 * (south + north))))
    fig.colorbar(image, ax=ax, label="MAPE per point (%)")
    ax.set_title(f"{title}  (mean {error.mean():.2f}%)")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    fig.tight_layout()
    return _save(fig, path)


def render_training_curves(
    history: dict[str, list[float]], path: Path, baselines: dict[str, Any] | None = None
) -> Path:
    """Loss (train and validation), validation MAPE and validation cosine per epoch.

    When ``baselines`` (test-set figures) are given, the best kNN's MAPE and cosine are drawn as
    dashed reference lines.
    """
    epochs = history["epoch"]
    fig = Figure(figsize=(13, 4), dpi=100)
    ax_loss, ax_mape, ax_cos = fig.subplots(1, 3)
    ax_loss.plot(epochs, history["train_loss"], label="train")
    ax_loss.plot(epochs, history["val_loss"], label="validation")
    ax_loss.set_yscale("log")
    ax_loss.set_title("loss")
    ax_mape.plot(epochs, history["val_mape"], label="validation")
    ax_mape.set_title("MAPE (%)")
    ax_cos.plot(epochs, history["val_cosine"], label="validation")
    ax_cos.set_title("mean cosine similarity")
    best = (baselines or {}).get("best_knn")
    if best:
        ax_mape.axhline(baselines[best]["mape"], ls="--", color="gray", label=f"{best} (test)")
        ax_cos.axhline(baselines[best]["cosine"], ls="--", color="gray", label=f"{best} (test)")
    for ax in (ax_loss, ax_mape, ax_cos):
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _map_date(times: np.ndarray) -> np.datetime64:
    """Mid-year of the latest year in the data (AlphaEarth is annual)."""
    year = int(np.max(times).astype("datetime64[Y]").astype(np.int64) + 1970)
    return np.datetime64(f"{year}-07-01T00:00:00", "s")


def build_map_view(
    world: Any,
    test_samples: Any,
    all_times: np.ndarray,
    bbox: tuple[float, float, float, float] = BAY_AREA,
    shape: tuple[int, int] = (160, 200),
    max_points: int = 20000,
) -> MapView | None:
    """The Bay Area view: the world's field on a grid when a ``DemoWorld`` is given, else the test samples.

    Returns ``None`` when there is no world and no test sample inside ``bbox``.
    """
    if world is not None:
        lat, lon = grid_points(bbox, shape)
        elevation = world.elevation(lat, lon)
        date = _map_date(all_times)
        time = np.full(lat.shape, date)
        truth = world.embedding(lat, lon, elevation, date).astype(np.float64)
        label = f"demo world, {np.datetime_as_string(date, unit='D')}"
        return MapView(lat, lon, elevation, time, truth, shape, bbox, label)
    inside = np.flatnonzero(points_in_bbox(test_samples.latitude, test_samples.longitude, bbox))
    if inside.size == 0:
        return None
    inside = inside[:max_points]
    return MapView(
        test_samples.latitude[inside],
        test_samples.longitude[inside],
        test_samples.elevation[inside],
        test_samples.time[inside],
        test_samples.embeddings[inside].astype(np.float64),
        None,
        bbox,
        "test samples",
    )
