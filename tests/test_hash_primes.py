"""The spatial-hash primes: one definition on the Python side, the same numbers in the C++/CUDA header."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from earth4d_gis.encoder.native import source_dir
from earth4d_gis.encoder.reference import PRIMES

HEADERS = {
    "checkout": Path(__file__).resolve().parents[1] / "csrc" / "hashgrid_math.h",
    "what the kernels build from": source_dir() / "hashgrid_math.h",
}


def _header_primes(text: str) -> tuple[int, ...]:
    """The primes the kernels multiply the three integer coordinates by, read from the header's source."""
    constants = {
        name: int(value) for name, value in re.findall(r"constexpr\s+uint64_t\s+(\w+)\s*=\s*(\d+)ULL;", text)
    }
    match = re.search(r"primes\[3\]\s*=\s*\{([^}]*)\}", text)
    assert match, "hashgrid_math.h no longer names its primes array"
    values = []
    for item in match.group(1).split(","):
        item = item.strip()
        values.append(int(item.removesuffix("ULL")) if item[0].isdigit() else constants[item])
    return tuple(values)


@pytest.mark.parametrize("where", sorted(HEADERS))
def test_the_kernels_hash_with_the_python_primes(where: str) -> None:
    header = HEADERS[where]
    assert _header_primes(header.read_text()) == PRIMES == (1, 2654435761, 805459861)


def test_no_other_python_module_spells_the_primes() -> None:
    package = Path(__file__).resolve().parents[1] / "earth4d_gis"
    spelled = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if "2654435761" in path.read_text() or "805459861" in path.read_text()
    ]
    assert spelled == ["encoder/reference.py"]
