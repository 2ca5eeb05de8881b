"""Adam for a hash-grid model: lazy (row-sparse) updates for the tables, plain AdamW for the decoder.

A batch reads only a small part of a large hash table. Lazy Adam updates only the rows whose gradient is
non-zero (their moments too), as ``torch.optim.SparseAdam`` does for sparse gradients, which saves the
full-table passes of dense Adam and leaves rows no batch touched exactly as they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from ..encoder import EncoderConfig

TABLE_BETAS = (0.9, 0.99)
TABLE_EPS = 1e-15


class HybridAdam(Optimizer):
    """Adam whose parameter groups are either dense (AdamW, decoupled weight decay) or lazy (row-sparse).

    A lazy group's parameters are 2-D tables ``[rows, features]``; a row is updated when any of its
    gradient entries is non-zero. Gradients may be dense or sparse COO tensors.
    """

    def __init__(
        self,
        params: Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "lazy": False}
        super().__init__(params, defaults)
        self._overflows: list[tuple[torch.Tensor, Any]] = []  # see _lazy_update_bounded; never saved

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # noqa: D102 - torch's Optimizer API
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float64)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                if group["lazy"]:
                    _lazy_update(p, p.grad, state, group, self._overflows)
                else:
                    _dense_update(p, p.grad, state, group)


def _bias_corrections(group: dict[str, Any], step: float) -> tuple[float, float]:
    beta1, beta2 = group["betas"]
    return 1.0 - beta1**step, 1.0 - beta2**step


def _dense_update(p: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
    if grad.is_sparse:
        grad = grad.to_dense()
    beta1, beta2 = group["betas"]
    bc1, bc2 = _bias_corrections(group, float(state["step"]))
    if group["weight_decay"]:
        p.mul_(1.0 - group["lr"] * group["weight_decay"])
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg.lerp_(grad, 1.0 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
    denom = (exp_avg_sq / bc2).sqrt_().add_(group["eps"])
    p.addcdiv_(exp_avg, denom, value=-group["lr"] / bc1)


def _touched_rows(grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows with a non-zero gradient and their gradient rows (sparse gradients are coalesced first)."""
    if grad.is_sparse:
        grad = grad.coalesce()
        return grad.indices()[0], grad.values()
    rows = torch.nonzero(grad.ne(0).any(dim=1)).squeeze(1)
    return rows, grad.index_select(0, rows)


def _lazy_update(
    p: torch.Tensor,
    grad: torch.Tensor,
    state: dict[str, Any],
    group: dict[str, Any],
    overflows: list[tuple[torch.Tensor, Any]] | None = None,
) -> None:
    bound = group.get("max_touched_rows")
    if p.is_cuda and bound and not grad.is_sparse and overflows is not None:
        _lazy_update_bounded(p, grad, state, group, min(int(bound), p.shape[0]), overflows)
        return
    rows, g = _touched_rows(grad)
    if rows.numel() == 0:
        return
    beta1, beta2 = group["betas"]
    bc1, bc2 = _bias_corrections(group, float(state["step"]))
    exp_avg = state["exp_avg"].index_select(0, rows).lerp_(g, 1.0 - beta1)
    exp_avg_sq = state["exp_avg_sq"].index_select(0, rows).mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
    state["exp_avg"].index_copy_(0, rows, exp_avg)
    state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
    update = exp_avg.div_(exp_avg_sq.div_(bc2).sqrt_().add_(group["eps"])).mul_(-group["lr"] / bc1)
    if group["weight_decay"]:
        update.sub_(p.index_select(0, rows), alpha=group["lr"] * group["weight_decay"])
    p.index_add_(0, rows, update)


def _lazy_update_bounded(
    p: torch.Tensor,
    grad: torch.Tensor,
    state: dict[str, Any],
    group: dict[str, Any],
    bound: int,
    overflows: list[tuple[torch.Tensor, Any]],
) -> None:
    """The lazy update without a host synchronisation: ``nonzero`` must tell the host how many rows there
    are before it can allocate, so it waits for the GPU every step. Here the touched rows are gathered
    into ``bound`` slots (``nonzero_static``); the empty slots repeat the first slot's row with its values,
    so their writes are identical to it, and they add nothing to the parameters. Same result as the
    unbounded update. A batch that touched more rows than ``bound`` is reported by a later step, once
    the GPU has got there (``overflows``: the optimizer's pending answers)."""
    _raise_if_overflowed(overflows)
    mask = grad.ne(0).any(dim=1)
    slots = torch.nonzero_static(mask, size=bound, fill_value=-1).squeeze(1)
    valid = slots >= 0
    rows = torch.where(valid, slots, slots[:1].clamp_min(0))
    write = (valid | valid[:1]).unsqueeze(1)  # empty slots copy slot 0, whose own write is new or old
    g = grad.index_select(0, rows)
    beta1, beta2 = group["betas"]
    bc1, bc2 = _bias_corrections(group, float(state["step"]))
    old_avg = state["exp_avg"].index_select(0, rows)
    old_sq = state["exp_avg_sq"].index_select(0, rows)
    exp_avg = torch.where(write, old_avg.lerp(g, 1.0 - beta1), old_avg)
    exp_avg_sq = torch.where(write, old_sq.mul(beta2).addcmul_(g, g, value=1.0 - beta2), old_sq)
    state["exp_avg"].index_copy_(0, rows, exp_avg)
    state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
    update = exp_avg.div(exp_avg_sq.div(bc2).sqrt_().add_(group["eps"])).mul_(-group["lr"] / bc1)
    if group["weight_decay"]:
        update.sub_(p.index_select(0, rows), alpha=group["lr"] * group["weight_decay"])
    p.index_add_(0, rows, update.mul_(valid.unsqueeze(1)))
    overflow = torch.empty((), dtype=torch.bool, pin_memory=p.is_cuda)
    overflow.copy_(mask.sum() > bound, non_blocking=True)
    event = torch.cuda.Event() if p.is_cuda else None
    if event is not None:
        event.record()
    overflows.append((overflow, event))


def _raise_if_overflowed(pending: list[tuple[torch.Tensor, Any]]) -> None:
    """Whether an earlier bounded step ran out of slots, read once the GPU has got there (no waiting)."""
    while pending and (pending[0][1] is None or pending[0][1].query() or len(pending) > 8):
        overflow, event = pending.pop(0)
        if event is not None:
            event.synchronize()
        if bool(overflow):
            raise RuntimeError(
                "lazy Adam: a batch touched more table rows than max_touched_rows; rows were skipped "
                "(the bound must cover batch size x 8 corners x levels)"
            )


def touched_rows_bound(encoder_config: EncoderConfig, batch_size: int) -> int:
    """The most rows of one table that a batch can touch: 8 corners at each of the grid's levels."""
    return max(min(batch_size * 8 * g.n_levels, g.total_rows) for g in encoder_config.grids)


def lazy_pays_off(encoder_config: EncoderConfig, batch_size: int) -> bool:
    """True when a batch can touch at most 1/16 of the table rows (huge tables, e.g. ``seed-162d``).

    Measured on 2 CPU cores with the ``default`` preset: fused dense Adam steps 12.8M table
    parameters in ~22 ms, lazy Adam's row gather/scatter in ~300 ms, because a batch of 10,000 touches a
    large share of the rows. Lazy wins only when the touched rows are a small fraction of the table.
    """
    touched = sum(batch_size * 8 * g.n_levels for g in encoder_config.grids)
    rows = sum(g.total_rows for g in encoder_config.grids)
    return 16 * touched < rows


def build_optimizer(
    table_params: list[torch.nn.Parameter],
    other_params: list[torch.nn.Parameter],
    *,
    lr: float,
    lazy_tables: bool,
    weight_decay: float,
    table_lr_scale: float = 1.0,
    max_touched_rows: int | None = None,
) -> Optimizer:
    """One optimizer: a group for the hash tables and AdamW groups for the rest.

    With ``lazy_tables`` the tables get row-sparse lazy Adam (``HybridAdam``); otherwise everything
    uses torch's fused AdamW (one pass over each tensor). The tables learn at ``lr * table_lr_scale``
    with Instant-NGP's betas (0.9, 0.99) and eps 1e-15 (a table row sees a gradient only when a
    sample falls near it, so its second moment must not wash out between visits); they get no weight
    decay. Decoder biases and LayerNorm weights (1-D parameters) get no weight decay either.
    ``max_touched_rows`` (``touched_rows_bound``) lets lazy Adam on a GPU update without waiting for it.
    """
    decayed = [p for p in other_params if p.ndim > 1]
    undecayed = [p for p in other_params if p.ndim <= 1]
    groups = [
        {
            "params": table_params,
            "lazy": lazy_tables,
            "weight_decay": 0.0,
            "lr": lr * table_lr_scale,
            "betas": TABLE_BETAS,
            "eps": TABLE_EPS,
            "name": "tables",
            "max_touched_rows": max_touched_rows,
        },
        {"params": decayed, "weight_decay": weight_decay, "name": "decoder"},
        {"params": undecayed, "weight_decay": 0.0, "name": "decoder_no_decay"},
    ]
    groups = [g for g in groups if g["params"]]
    if lazy_tables:
        return HybridAdam(groups, lr=lr)
    for g in groups:
        g.pop("lazy", None)
        g.pop("max_touched_rows", None)
    return torch.optim.AdamW(groups, lr=lr, fused=True)
