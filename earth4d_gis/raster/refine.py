"""Refined sampling of a window: predict every other pixel, and the rest only where the map varies.

A window's pixels on a lattice of every other row and column (and its last row and column) are predicted
first. Each lattice cell whose four corners agree (every corner's cosine to their unit mean at least
``1 - tolerance``) has its other pixels interpolated from the corners (midpoints, re-normalised to unit
length); the pixels of the cells that disagree are predicted. Smooth areas then cost about a quarter of
the predictions. ``rasterize --output rgb`` draws this way by default (a picture, where an interpolated
pixel differs from its prediction by a few colour steps, 97.5 % within 4); data outputs predict every
pixel unless asked. ``serve`` refines its tile lattices by the same test (``disagreeing_cells``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import InputError

DEFAULT_REFINE_TOLERANCE = 0.005
"""The tolerance of ``serve``'s tiles and ``rasterize --output rgb``: on a trained demo model a quarter to a
third of the predictions, 97.5 % of rgb pixels within 4 colour steps of every pixel predicted (see
``docs/benchmarks.md``)."""
_MIN_SIDE = 5
"""Windows narrower than this are predicted pixel by pixel: there is nothing to save."""


def check_refine_tolerance(value: object) -> float:
    """A refinement tolerance as a float in [0, 1) (0 predicts every pixel), or ``InputError`` naming it."""
    try:
        tolerance = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"refine tolerance {value!r} is not a number") from None
    if not 0.0 <= tolerance < 1.0:
        raise InputError(f"refine tolerance {value!r} is not in [0, 1) (0 predicts every pixel)")
    return tolerance


def disagreeing_cells(corners: np.ndarray, tolerance: float) -> np.ndarray:
    """Cells ``[n, m]`` of a lattice ``[n + 1, m + 1, 64]`` whose corners differ by more than ``tolerance``.

    A cell disagrees when some corner's cosine to the unit mean of the four is below ``1 - tolerance``,
    or when some but not all of its corners are missing (NaN).
    """
    quad = (corners[:-1, :-1], corners[:-1, 1:], corners[1:, :-1], corners[1:, 1:])
    mean = quad[0] + quad[1] + quad[2] + quad[3]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean /= np.sqrt(np.einsum("ijb,ijb->ij", mean, mean))[..., None]
    worst = np.full(mean.shape[:2], np.inf, dtype=np.float32)
    for corner in quad:
        worst = np.fmin(worst, np.einsum("ijb,ijb->ij", corner, mean))
    missing = [~np.isfinite(c[..., 0]) for c in quad]
    some_missing = np.logical_or.reduce(missing) & ~np.logical_and.reduce(missing)
    with np.errstate(invalid="ignore"):
        return (worst < 1.0 - tolerance) | some_missing


def lattice_indices(n: int) -> np.ndarray:
    """The lattice's rows (or columns) of a side of ``n`` pixels: every other one, and the last."""
    return np.unique(np.r_[np.arange(0, n, 2), n - 1])


def refined_window(
    predict: Callable[[np.ndarray], np.ndarray], valid: np.ndarray, tolerance: float
) -> tuple[np.ndarray, int]:
    """Unit-length ``[h, w, 64]`` at a window's pixels (NaN where not ``valid``), and the predictions made.

    ``predict(flat)`` returns unit-length ``[len(flat), 64]`` at the window's row-major pixel indices
    ``flat`` (only ever valid ones).
    """
    h, w = valid.shape
    out = np.full((h, w, 64), np.nan, dtype=np.float32)
    flat_out = out.reshape(-1, 64)
    if h < _MIN_SIDE or w < _MIN_SIDE:
        todo = np.flatnonzero(valid)
        flat_out[todo] = predict(todo)
        return out, int(todo.size)
    rows, cols = lattice_indices(h), lattice_indices(w)
    on_lattice = np.zeros((h, w), dtype=bool)
    on_lattice[np.ix_(rows, cols)] = True
    first = np.flatnonzero(on_lattice & valid)
    flat_out[first] = predict(first)
    flagged = disagreeing_cells(out[np.ix_(rows, cols)], tolerance)

    # Midpoints: between two lattice columns on lattice rows, then between two lattice rows everywhere.
    mid_cols, mid_rows = np.arange(1, w - 1, 2), np.arange(1, h - 1, 2)
    out[np.ix_(rows, mid_cols)] = (out[np.ix_(rows, mid_cols - 1)] + out[np.ix_(rows, mid_cols + 1)]) / 2
    out[mid_rows] = (out[mid_rows - 1] + out[mid_rows + 1]) / 2

    wanted = np.zeros((h, w), dtype=bool)
    for dr in range(3):
        cell_rows = np.minimum(rows[:-1] + dr, rows[1:])
        for dc in range(3):
            wanted[np.ix_(cell_rows, np.minimum(cols[:-1] + dc, cols[1:]))] |= flagged
    # A valid pixel that interpolation left empty (all of its cell's corners outside the map) is predicted.
    wanted |= ~np.isfinite(out[..., 0])
    second = np.flatnonzero(wanted & valid & ~on_lattice)
    interpolated = ~on_lattice & ~wanted
    values = out[interpolated]
    with np.errstate(invalid="ignore", divide="ignore"):
        values /= np.sqrt(np.einsum("ij,ij->i", values, values))[:, None]
    out[interpolated] = values
    if second.size:
        flat_out[second] = predict(second)
    out[~valid] = np.nan
    return out, int(first.size + second.size)
