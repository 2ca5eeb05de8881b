"""Row validation of a loaded dataset: every invalid row is reported (or dropped) with its reason."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError

log = logging.getLogger(__name__)

_EXAMPLES = 3


@dataclass
class RowProblem:
    """One reason rows are invalid: how many, and the first few (row index, offending value)."""

    reason: str
    count: int
    examples: list[tuple[int, str]]

    def describe(self) -> str:
        shown = ", ".join(f"row {row}: {value}" for row, value in self.examples)
        more = ", ..." if self.count > len(self.examples) else ""
        return f"{self.count} with {self.reason} ({shown}{more})"


@dataclass
class ValidationReport:
    """Invalid rows by reason. Row numbers count data rows from 0 (the CSV header is not a row)."""

    n_rows: int
    problems: list[RowProblem] = field(default_factory=list)
    invalid: np.ndarray | None = None
    """Boolean mask of rows with at least one problem."""

    def add(self, reason: str, mask: np.ndarray, values: np.ndarray | None = None) -> None:
        """Record rows where ``mask`` is true as invalid for ``reason`` (``values`` supplies examples)."""
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return
        shown = rows[:_EXAMPLES]
        examples = [(int(r), _show(values[r]) if values is not None else "") for r in shown]
        self.problems.append(RowProblem(reason, int(rows.size), examples))
        self.invalid = mask.copy() if self.invalid is None else (self.invalid | mask)

    @property
    def n_invalid(self) -> int:
        return 0 if self.invalid is None else int(self.invalid.sum())

    def message(self, what: str) -> str:
        """The one-line report: how many rows, for which reasons, the first examples, and the way out."""
        details = "; ".join(p.describe() for p in self.problems)
        return (
            f"{what}: {self.n_invalid} of {self.n_rows} rows are invalid: {details}. "
            "Fix them, or drop them with drop_invalid=True"
        )

    def raise_or_keep(self, what: str, drop_invalid: bool) -> np.ndarray:
        """Raise ``DataError`` with the report, or (``drop_invalid``) log counts; return the rows to keep."""
        keep = np.ones(self.n_rows, dtype=bool) if self.invalid is None else ~self.invalid
        if not self.problems:
            return keep
        if not drop_invalid:
            error = DataError(self.message(what))
            error.report = self  # type: ignore[attr-defined]
            raise error
        for problem in self.problems:
            log.info("dropping %d rows with %s", problem.count, problem.reason)
        log.info("dropped %d of %d rows of %s, %d remain", self.n_invalid, self.n_rows, what, int(keep.sum()))
        return keep


def _show(value: object) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=3, threshold=6, edgeitems=2, max_line_width=10_000)
    if isinstance(value, np.datetime64):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return repr(value if not isinstance(value, np.generic) else value.item())
