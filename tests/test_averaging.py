"""Weight averaging: an exponential moving average of the parameters with a short warm-up."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from earth4d_gis.train.averaging import WeightAverage


def _model(value: float) -> nn.Linear:
    model = nn.Linear(3, 2)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)
    return model


def test_early_average_is_the_plain_mean_of_the_updates() -> None:
    model = _model(0.0)
    average = WeightAverage(model, horizon_steps=100)
    for value in (1.0, 2.0, 6.0):
        with torch.no_grad():
            model.weight.fill_(value)
        average.update()
    # the initial weights (0) do not count; the mean of 1, 2 and 6 is 3
    assert torch.allclose(average.module.weight, torch.full_like(model.weight, 3.0))
    assert torch.allclose(average.module.bias, torch.zeros_like(model.bias))


def test_average_converges_to_constant_weights_and_leaves_the_model_alone() -> None:
    model = _model(2.0)
    average = WeightAverage(model, horizon_steps=5)
    with torch.no_grad():
        model.weight.fill_(-1.0)
    for _ in range(200):
        average.update()
    assert torch.allclose(average.module.weight, model.weight, atol=1e-6)
    assert torch.equal(model.weight, torch.full_like(model.weight, -1.0))
    assert not any(p.requires_grad for p in average.module.parameters())


def test_steady_state_decay_is_one_minus_one_over_horizon() -> None:
    model = _model(0.0)
    average = WeightAverage(model, horizon_steps=4)
    average.updates = 10_000  # past the warm-up
    with torch.no_grad():
        model.weight.fill_(1.0)
    average.update()
    assert torch.allclose(average.module.weight, torch.full_like(model.weight, 0.25))


def test_state_round_trip() -> None:
    model = _model(1.0)
    average = WeightAverage(model, horizon_steps=10)
    with torch.no_grad():
        model.weight.fill_(3.0)
    average.update()
    other = WeightAverage(_model(0.0), horizon_steps=10)
    other.load_state_dict(average.state_dict())
    assert other.updates == 1
    assert torch.equal(other.module.weight, average.module.weight)


def test_horizon_below_one_step_is_refused() -> None:
    with pytest.raises(ValueError, match="0.5"):
        WeightAverage(_model(0.0), horizon_steps=0.5)
