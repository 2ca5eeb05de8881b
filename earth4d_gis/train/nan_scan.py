"""The check before training: which samples give a non-finite target or model output.

The original deleted such samples and re-initialised parameters, hiding the cause. Here the rows are
reported (how many, the first few with their coordinates) and training does not start.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.samples import SampleSet
from ..errors import DataError

_EXAMPLES = 5


@torch.no_grad()
def non_finite_rows(
    model: torch.nn.Module, coords: torch.Tensor, targets: torch.Tensor, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions whose target, and positions whose model output (in eval mode), is not finite."""
    was_training = model.training
    model.eval()
    bad_output = []
    try:
        for start in range(0, coords.shape[0], batch_size):
            out = model(coords[start : start + batch_size])
            bad_output.append(~torch.isfinite(out).all(dim=1))
    finally:
        model.train(was_training)
    bad_target = ~torch.isfinite(targets).all(dim=1)
    output_rows = (
        torch.cat(bad_output).nonzero().squeeze(1) if bad_output else torch.empty(0, dtype=torch.long)
    )
    return bad_target.nonzero().squeeze(1).cpu().numpy(), output_rows.cpu().numpy()


def _describe(samples: SampleSet, rows: np.ndarray) -> str:
    parts = []
    for row in rows[:_EXAMPLES]:
        parts.append(
            f"row {int(row)} ({samples.latitude[row]:.6f}, {samples.longitude[row]:.6f}, "
            f"{samples.elevation[row]:.1f} m, {np.datetime_as_string(samples.time[row], unit='D')})"
        )
    return "; ".join(parts)


def check_finite(
    model: torch.nn.Module,
    coords: torch.Tensor,
    targets: torch.Tensor,
    samples: SampleSet,
    sample_rows: np.ndarray,
    batch_size: int,
) -> None:
    """Raise ``DataError`` naming the bad samples (rows of ``samples``) if any target or output is not finite.

    ``sample_rows[i]`` is the row of ``samples`` that ``coords[i]`` came from.
    """
    bad_target, bad_output = non_finite_rows(model, coords, targets, batch_size)
    if bad_target.size:
        rows = sample_rows[bad_target]
        raise DataError(
            f"{rows.size} of {coords.shape[0]} training samples have a non-finite embedding: "
            f"{_describe(samples, rows)}; fix or drop these rows (drop_invalid=True)"
        )
    if bad_output.size:
        rows = sample_rows[bad_output]
        raise DataError(
            f"{rows.size} of {coords.shape[0]} training samples give a non-finite model output before "
            f"training: {_describe(samples, rows)}; check these coordinates and the encoder backend, or set "
            "skip_nan_test=True to train anyway"
        )
