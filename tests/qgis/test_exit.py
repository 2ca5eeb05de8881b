"""QGIS must leave cleanly (exit status 0) after the plugin ran work in either mode (issue: signal 11 at exit
after an in-process run). The session runs in a process of its own so that its exit status can be read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.qgis, pytest.mark.slow]

SESSION = Path(__file__).with_name("qgis_session.py")


def test_qgis_exits_cleanly_after_a_job_in_each_mode(
    tiny_model: Path, earth4d_cli: str, tmp_path: Path
) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    result = subprocess.run(
        [sys.executable, str(SESSION), str(tiny_model), str(tmp_path), earth4d_cli],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    ran = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("ran ")]
    assert ran == ["subprocess", "in-process"], result.stdout + result.stderr[-3000:]
    assert "model alive after unload: False" in result.stdout, "the in-process model outlived the plugin"
    assert result.returncode == 0, f"QGIS left with status {result.returncode}: {result.stderr[-3000:]}"
    assert (tmp_path / "rgb_subprocess.tif").is_file() and (tmp_path / "rgb_in-process.tif").is_file()
