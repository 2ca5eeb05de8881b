"""Refined window sampling: lattice pixels exact, smooth cells interpolated, varying cells predicted."""

from __future__ import annotations

import numpy as np
import pytest

from earth4d_gis.raster.refine import disagreeing_cells, lattice_indices, refined_window


def _field(h: int, w: int, edge_col: int | None = None) -> np.ndarray:
    """A unit-length ``[h, w, 64]`` field turning slowly along rows and columns; with ``edge_col`` it
    jumps to another direction from that column on."""
    r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    values = np.zeros((h, w, 64), dtype=np.float32)
    values[..., 0] = np.cos(r * 0.01) * np.cos(c * 0.01)
    values[..., 1] = np.sin(r * 0.01)
    values[..., 2] = np.cos(r * 0.01) * np.sin(c * 0.01)
    if edge_col is not None:
        values[:, edge_col:] = np.roll(values[:, edge_col:], 5, axis=-1)
    return values / np.linalg.norm(values, axis=-1, keepdims=True)


class _Predictor:
    """``refined_window``'s callback over a known field, recording every pixel it was asked for."""

    def __init__(self, field: np.ndarray, valid: np.ndarray) -> None:
        self.field, self.valid = field.reshape(-1, 64), valid.ravel()
        self.asked: list[np.ndarray] = []

    def __call__(self, flat: np.ndarray) -> np.ndarray:
        assert self.valid[flat].all(), "only valid pixels are predicted"
        self.asked.append(flat)
        return self.field[flat]

    @property
    def pixels(self) -> np.ndarray:
        return np.concatenate(self.asked)


def test_lattice_holds_every_other_index_and_the_last() -> None:
    assert lattice_indices(7).tolist() == [0, 2, 4, 6]
    assert lattice_indices(8).tolist() == [0, 2, 4, 6, 7]


@pytest.mark.parametrize("shape", [(64, 64), (37, 50)])
def test_a_smooth_window_costs_a_quarter_and_stays_within_the_tolerance(shape: tuple[int, int]) -> None:
    field = _field(*shape)
    valid = np.ones(shape, dtype=bool)
    predict = _Predictor(field, valid)
    values, count = refined_window(predict, valid, tolerance=0.002)
    assert count == predict.pixels.size == np.unique(predict.pixels).size, "no pixel is predicted twice"
    assert count <= 0.3 * valid.size
    cosine = np.einsum("ijb,ijb->ij", values, field)
    assert cosine.min() > 1 - 1e-4
    assert np.allclose(np.linalg.norm(values, axis=-1), 1.0, atol=1e-5), "interpolated pixels are unit length"
    rows, cols = lattice_indices(shape[0]), lattice_indices(shape[1])
    assert np.array_equal(values[np.ix_(rows, cols)], field[np.ix_(rows, cols)])


def test_cells_across_an_edge_are_predicted_exactly() -> None:
    field = _field(40, 40, edge_col=21)
    valid = np.ones((40, 40), dtype=bool)
    values, count = refined_window(_Predictor(field, valid), valid, tolerance=0.002)
    assert np.array_equal(values[:, 20:23], field[:, 20:23]), "the cells the jump crosses are the model's"
    assert count < 0.5 * valid.size
    assert not np.array_equal(values[:, :15], field[:, :15]), "away from it pixels are interpolated"


def test_tolerance_zero_predicts_every_pixel_of_a_varying_field() -> None:
    field = _field(20, 20, edge_col=3)
    field[::3] = np.roll(field[::3], 1, axis=-1)
    valid = np.ones((20, 20), dtype=bool)
    values, _ = refined_window(_Predictor(field, valid), valid, tolerance=0.0)
    assert np.allclose(values, field, atol=1e-6)


def test_pixels_outside_the_map_are_nan_and_every_valid_pixel_is_filled() -> None:
    field = _field(30, 30)
    valid = np.ones((30, 30), dtype=bool)
    valid[:, 10:13] = False  # a strip outside the AOI: cells on both sides lose corners
    valid[20:, 20:] = False
    valid[24, 24] = True  # a lone valid pixel whose cell corners are all outside
    predict = _Predictor(field, valid)
    values, _ = refined_window(predict, valid, tolerance=0.002)
    assert np.isnan(values[~valid]).all()
    assert np.isfinite(values[valid]).all()
    assert 24 * 30 + 24 in predict.pixels
    cosine = np.einsum("ijb,ijb->ij", values[valid][None], field[valid][None])
    assert cosine.min() > 1 - 1e-4


def test_windows_too_small_to_save_anything_are_predicted_whole() -> None:
    field = _field(3, 40)
    valid = np.ones((3, 40), dtype=bool)
    values, count = refined_window(_Predictor(field, valid), valid, tolerance=0.5)
    assert count == valid.size and np.array_equal(values, field)


def test_disagreeing_cells_flag_turns_and_partly_missing_corners() -> None:
    corners = np.zeros((3, 3, 64), dtype=np.float32)
    corners[..., 0] = 1.0
    corners[2, 2] = np.eye(64, dtype=np.float32)[1]  # turned 90 degrees: only the cell it touches
    corners[0, 0] = np.nan  # a missing corner
    flagged = disagreeing_cells(corners, 0.01)
    assert flagged.tolist() == [[True, False], [False, True]]
    corners[:2, :2] = np.nan
    assert not disagreeing_cells(corners, 0.01)[0, 0], "a cell with every corner missing has nothing to test"
