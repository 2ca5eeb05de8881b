"""The learning-rate schedule: a short linear warm-up, then a cosine decay over the run's budget.

The budget is the epochs or the time limit, whichever runs out first, so a run with ``time_limit``
ends at a low learning rate whatever its epoch count, as a fixed-length schedule would.
"""

from __future__ import annotations

import math
from typing import Any

from torch.optim import Optimizer

FINAL_FRACTION = 0.01
"""The learning rate at the end of the budget, as a fraction of the initial one."""


class CosineSchedule:
    """Sets each parameter group's learning rate from the share of the budget spent (0 -> 1)."""

    def __init__(self, optimizer: Optimizer, warmup_steps: int = 100) -> None:
        self.optimizer = optimizer
        self.warmup_steps = int(warmup_steps)
        self.base_lrs = [float(g["lr"]) for g in optimizer.param_groups]
        self.steps = 0

    def factor(self, progress: float) -> float:
        """The multiplier of the initial learning rate at ``progress`` after ``self.steps`` steps."""
        p = min(max(progress, 0.0), 1.0)
        cosine = FINAL_FRACTION + (1.0 - FINAL_FRACTION) * 0.5 * (1.0 + math.cos(math.pi * p))
        warmup = min(1.0, (self.steps + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        return cosine * warmup

    def step(self, progress: float) -> None:
        """Set the rates for the next optimizer step."""
        f = self.factor(progress)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * f
        self.steps += 1

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])
        self.base_lrs = [float(v) for v in state["base_lrs"]]
