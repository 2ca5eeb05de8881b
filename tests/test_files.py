"""Safe writing: the staging folder never outlives its block, whenever an interrupt comes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from earth4d_gis.files import staging_folder


def test_staging_folder_is_removed_after_success_and_after_an_interrupt(tmp_path: Path) -> None:
    out = tmp_path / "map.tif"
    with staging_folder(out) as folder:
        (folder / "base.tif").write_bytes(b"data")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyboardInterrupt), staging_folder(out) as folder:
        (folder / "base.tif").write_bytes(b"data")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_inside_mkdtemp_leaves_no_folder_and_spares_other_temporaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM can land after ``mkdtemp`` made the folder and before it returned its name (CI saw it)."""
    out = tmp_path / "map.tif"
    other = tmp_path / f".map.tif.{os.getpid()}.other123.tmp"  # another staging of this process
    other.mkdir()
    real_mkdtemp = tempfile.mkdtemp

    def made_then_interrupted(*args: object, **kwargs: object) -> str:
        real_mkdtemp(*args, **kwargs)  # type: ignore[call-overload]
        raise KeyboardInterrupt

    monkeypatch.setattr(tempfile, "mkdtemp", made_then_interrupted)
    with pytest.raises(KeyboardInterrupt), staging_folder(out):
        pytest.fail("the block never runs")
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name]
