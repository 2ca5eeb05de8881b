"""Safe writing: temporaries never outlive their block, whenever an interrupt comes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from earth4d_gis.files import atomic_output, check_output_folder, staging_folder


def test_staging_folder_is_removed_after_success_and_after_an_interrupt(tmp_path: Path) -> None:
    out = tmp_path / "map.tif"
    with staging_folder(out) as folder:
        (folder / "base.tif").write_bytes(b"data")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyboardInterrupt), staging_folder(out) as folder:
        (folder / "base.tif").write_bytes(b"data")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def _stage(folder: Path) -> None:
    with staging_folder(folder / "map.tif"):
        pytest.fail("the block never runs")


def _write(folder: Path) -> None:
    with atomic_output(folder / "map.tif"):
        pytest.fail("the block never runs")


def _probe(folder: Path) -> None:
    check_output_folder(folder, "output folder", create=True)


@pytest.mark.parametrize(("maker", "action"), [("mkdtemp", _stage), ("mkstemp", _write), ("mkstemp", _probe)])
def test_an_interrupt_inside_tempfile_leaves_nothing_and_spares_other_temporaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, maker: str, action: Callable[[Path], None]
) -> None:
    """SIGTERM can land after ``tempfile`` made the temporary and before it returned its name (CI saw it
    leave a staging folder)."""
    other = tmp_path / f".map.tif.{os.getpid()}.other123.tmp"  # another temporary of this process
    other.mkdir()
    real = getattr(tempfile, maker)

    def made_then_interrupted(*args: object, **kwargs: object) -> object:
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(tempfile, maker, made_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        action(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name]
