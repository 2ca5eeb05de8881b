"""The installable zip: built by qgis_plugin/build_zip.py, and loadable by QGIS's own plugin loader."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from .conftest import PLUGIN_ROOT

pytestmark = pytest.mark.qgis

BUILD = PLUGIN_ROOT / "build_zip.py"


def _build(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BUILD), "--out", str(out), *extra], capture_output=True, text=True, check=False
    )


def test_build_zip_holds_the_plugin_folder_without_caches(tmp_path: Path) -> None:
    cache = PLUGIN_ROOT / "earth4d" / "__pycache__"
    cache.mkdir(exist_ok=True)
    out = tmp_path / "dist" / "earth4d.zip"
    result = _build(out)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert archive.testzip() is None
        metadata = archive.read("earth4d/metadata.txt").decode()
    assert {"earth4d/__init__.py", "earth4d/metadata.txt", "earth4d/icon.png", "earth4d/plugin.py"} <= set(
        names
    )
    assert all(name.startswith("earth4d/") for name in names)
    sources = {
        f"earth4d/{path.relative_to(PLUGIN_ROOT / 'earth4d').as_posix()}"
        for path in (PLUGIN_ROOT / "earth4d").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert {"earth4d/core/request.py", "earth4d/gui/dialog.py", "earth4d/processing/provider.py"} <= sources
    assert sources <= set(names), f"missing from the zip: {sorted(sources - set(names))}"
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    assert "qgisMinimumVersion=3.22" in metadata and "hasProcessingProvider=yes" in metadata
    assert [p.name for p in out.parent.iterdir()] == ["earth4d.zip"], "no temporary file left behind"


def test_build_zip_gets_the_mode_a_normal_write_would(tmp_path: Path) -> None:
    out = tmp_path / "earth4d.zip"
    result = subprocess.run(
        ["sh", "-c", f'umask 022 && exec "{sys.executable}" "{BUILD}" --out "{out}"'],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.stat().st_mode & 0o777 == 0o644


def test_build_zip_refuses_to_replace_without_permission(tmp_path: Path) -> None:
    out = tmp_path / "earth4d.zip"
    out.write_bytes(b"keep me")
    result = _build(out, "--no-overwrite")
    assert result.returncode == 1 and "exists" in result.stderr
    assert out.read_bytes() == b"keep me"


def test_qgis_loads_starts_and_unloads_the_zipped_plugin(
    tmp_path: Path, qgis_iface: Any, qgis_new_project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qgis.utils
    from qgis.core import QgsApplication

    out = tmp_path / "earth4d.zip"
    assert _build(out).returncode == 0
    plugins_dir = tmp_path / "plugins"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(plugins_dir)
    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "earth4d"}
    for name in saved:
        del sys.modules[name]
    monkeypatch.syspath_prepend(str(plugins_dir))
    monkeypatch.setattr(qgis.utils, "plugin_paths", [str(plugins_dir)])
    try:
        qgis.utils.updateAvailablePlugins()
        assert "earth4d" in qgis.utils.available_plugins
        assert qgis.utils.pluginMetadata("earth4d", "qgisMinimumVersion") == "3.22"
        assert qgis.utils.loadPlugin("earth4d")
        assert sys.modules["earth4d"].__file__.startswith(str(plugins_dir))
        assert qgis.utils.startPlugin("earth4d"), "classFactory or initGui failed"
        assert QgsApplication.processingRegistry().providerById("earth4d") is not None
        plugin = qgis.utils.plugins["earth4d"]
        plugin.action.trigger()
        assert plugin.dialog.isVisible()
        assert qgis.utils.unloadPlugin("earth4d")
        assert QgsApplication.processingRegistry().providerById("earth4d") is None
        assert "earth4d" not in sys.modules
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] == "earth4d"]:
            del sys.modules[name]
        sys.modules.update(saved)
        qgis.utils.updateAvailablePlugins()
