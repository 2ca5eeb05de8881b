"""The GPU training step without host synchronisations: the encoder's deferred input check and lazy Adam's
bounded row gather keep the guarantees of the checks they replace. On a GPU, a whole encoder + lazy Adam
step runs under torch's sync debug mode, which raises at any synchronising call."""

from __future__ import annotations

import copy

import pytest
import torch

from earth4d_gis.encoder import Earth4DEncoder, EncoderConfig
from earth4d_gis.encoder import module as encoder_module
from earth4d_gis.encoder.module import check_pending_inputs, validate_coords
from earth4d_gis.errors import InputError
from earth4d_gis.train import optim
from earth4d_gis.train.optim import HybridAdam, build_optimizer, touched_rows_bound

CPU = torch.device("cpu")


def test_deferred_input_check_raises_at_the_next_call() -> None:
    good = torch.full((3, 4), 0.5, dtype=torch.float64)
    bad = good.clone()
    bad[1, 2] = 1.5
    assert validate_coords(bad, CPU, defer=True) is bad, "a deferred check returns at once"
    with pytest.raises(InputError, match=r"z = 1.5 at row 1 is outside \[0, 1\].*previous GPU training call"):
        validate_coords(good, CPU)
    validate_coords(good, CPU)  # reported once
    validate_coords(bad, CPU, defer=True)
    with pytest.raises(InputError, match="z = 1.5 at row 1"):
        check_pending_inputs()
    assert not encoder_module._pending
    validate_coords(good, CPU, defer=True)
    check_pending_inputs()


def test_cpu_and_inference_calls_are_checked_at_once() -> None:
    enc = Earth4DEncoder(EncoderConfig.preset("default"), backend="reference")
    bad = torch.tensor([[0.5, 0.5, 0.5, -0.25]], dtype=torch.float64)
    with pytest.raises(InputError, match="t = -0.25 at row 0"):
        enc(bad)
    with torch.no_grad(), pytest.raises(InputError, match="t = -0.25 at row 0"):
        enc(bad)
    assert not encoder_module._pending


def _lazy_group(bound: int | None) -> dict:
    return {"lr": 0.05, "betas": (0.9, 0.99), "eps": 1e-15, "weight_decay": 0.01, "max_touched_rows": bound}


def _state(p: torch.Tensor) -> dict:
    return {
        "step": torch.zeros((), dtype=torch.float64),
        "exp_avg": torch.zeros_like(p),
        "exp_avg_sq": torch.zeros_like(p),
    }


def test_bounded_lazy_adam_is_the_lazy_update_exactly() -> None:
    gen = torch.Generator().manual_seed(4)
    p_ref = torch.randn(500, 4, generator=gen)
    p_bnd = p_ref.clone()
    s_ref, s_bnd = _state(p_ref), _state(p_bnd)
    overflows: list = []
    for step in range(6):
        grad = torch.randn(500, 4, generator=gen)
        keep = torch.rand(500, generator=gen) < (0.0 if step == 3 else 0.1)  # step 3 touches no row
        grad[~keep] = 0.0
        if step == 1:
            grad[0] = 0.0  # the first slot is not row 0
        for state in (s_ref, s_bnd):
            state["step"] += 1
        optim._lazy_update(p_ref, grad, s_ref, _lazy_group(None))
        optim._lazy_update_bounded(p_bnd, grad, s_bnd, _lazy_group(120), 120, overflows)
        assert torch.equal(p_bnd, p_ref), f"step {step}: parameters differ"
        assert torch.equal(s_bnd["exp_avg"], s_ref["exp_avg"]) and torch.equal(
            s_bnd["exp_avg_sq"], s_ref["exp_avg_sq"]
        )
    untouched = (s_ref["exp_avg"] == 0).all(dim=1)
    assert untouched.any() and not untouched.all()


def test_bounded_lazy_adam_reports_a_batch_over_its_bound() -> None:
    p = torch.zeros(100, 2)
    state, overflows = _state(p), []
    grad = torch.ones(100, 2)
    state["step"] += 1
    optim._lazy_update_bounded(p, grad, state, _lazy_group(10), 10, overflows)
    with pytest.raises(RuntimeError, match="touched more table rows than max_touched_rows"):
        optim._lazy_update_bounded(p, grad, state, _lazy_group(10), 10, overflows)


def test_touched_rows_bound_covers_a_batch() -> None:
    cfg = EncoderConfig.preset("default")
    bound = touched_rows_bound(cfg, 100)
    assert bound == max(min(100 * 8 * g.n_levels, g.total_rows) for g in cfg.grids)
    opt = build_optimizer(
        [torch.nn.Parameter(torch.zeros(4, 2))],
        [],
        lr=0.1,
        lazy_tables=True,
        weight_decay=0.0,
        max_touched_rows=bound,
    )
    assert isinstance(opt, HybridAdam) and opt.param_groups[0]["max_touched_rows"] == bound
    assert (
        "max_touched_rows"
        not in build_optimizer(
            [torch.nn.Parameter(torch.zeros(4, 2))],
            [],
            lr=0.1,
            lazy_tables=False,
            weight_decay=0.0,
            max_touched_rows=bound,
        ).param_groups[0]
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="host synchronisations exist only on a GPU")
def test_a_gpu_training_step_does_not_wait_for_the_gpu() -> None:
    cfg = EncoderConfig.preset("default")
    enc = Earth4DEncoder(cfg, backend="cuda").cuda()
    batch = 4096
    opt = build_optimizer(
        list(enc.parameters()),
        [],
        lr=1e-2,
        lazy_tables=True,
        weight_decay=0.0,
        max_touched_rows=touched_rows_bound(cfg, batch),
    )
    coords = torch.rand(batch * 3, 4, dtype=torch.float64, device="cuda")
    reference = copy.deepcopy(enc)
    for step in range(3):  # the first step allocates and builds; later ones must not synchronise
        if step == 2:
            torch.cuda.set_sync_debug_mode("error")
        try:
            out = enc(coords[step * batch : (step + 1) * batch])
            opt.zero_grad(set_to_none=True)
            out.square().mean().backward()
            opt.step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    check_pending_inputs()
    assert any(not torch.equal(a, b) for a, b in zip(enc.parameters(), reference.parameters(), strict=True))
