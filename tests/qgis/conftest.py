"""Fixtures for the QGIS plugin tests: a real (headless) QGIS from pytest-qgis, the plugin, a tiny model.

These tests need pytest-qgis's QgsApplication; when pytest runs with ``-p no:qgis`` this folder is not
collected (the report header says so). QGIS imports stay inside fixtures so that importing this file is
harmless either way.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PLUGIN_ROOT = Path(__file__).resolve().parents[2] / "qgis_plugin"
AREA = (11.30, 47.20, 11.50, 47.32)
"""A small area near Innsbruck (west, south, east, north), about 15 x 13 km."""
DATE = "2024-06-01"


def _qgis_active(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("qgis") or config.pluginmanager.hasplugin("pytest_qgis")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if not _qgis_active(config) and collection_path.name.startswith("test_"):
        return True
    return None


def pytest_report_header(config: pytest.Config) -> str | None:
    if not _qgis_active(config):
        return "tests/qgis: not collected (pytest-qgis is disabled, e.g. by -p no:qgis)"
    return None


@pytest.fixture(scope="session")
def plugin_package(qgis_app: Any) -> Any:
    """The ``earth4d`` plugin package, imported from qgis_plugin/ as QGIS would."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if str(PLUGIN_ROOT) not in sys.path:
        sys.path.insert(0, str(PLUGIN_ROOT))
    import earth4d

    return earth4d


@pytest.fixture
def plugin(qgis_iface: Any, plugin_package: Any, qgis_new_project: Any) -> Iterator[Any]:
    """The plugin as QGIS starts it (classFactory, initGui), unloaded after the test."""
    qgis_iface.messageBar().clearWidgets()
    instance = plugin_package.classFactory(qgis_iface)
    instance.initGui()
    yield instance
    instance.unload()


@pytest.fixture(autouse=True)
def clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fresh plugin settings before each test (the environment: this Python's earth4d-gis); no layers left
    afterwards (a raster layer alive at exitQgis crashes QGIS)."""
    if "qgis_app" not in request.fixturenames and not _qgis_active(request.config):
        yield
        return
    from qgis.core import QgsProject, QgsSettings

    settings = QgsSettings()
    settings.remove("earth4d")
    # The environment a user would have set up: this test Python's earth4d-gis (the subprocess default).
    settings.setValue("earth4d/cli_path", str(Path(sys.executable).parent / "earth4d-gis"))
    yield
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().layerTreeRoot().removeAllChildren()
    settings.remove("earth4d")
    gc.collect()


@pytest.fixture
def processing(qgis_processing: None, plugin_package: Any) -> Iterator[Any]:
    """Processing initialised, with a fresh earth4d provider registered for this test only."""
    from earth4d.processing.provider import Earth4DProvider
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    assert registry.providerById("earth4d") is None, "an earth4d provider leaked from another test"
    assert registry.addProvider(Earth4DProvider())
    import processing as qgis_processing_module

    yield qgis_processing_module
    registry.removeProvider("earth4d")


def _tiny_spec() -> dict[str, Any]:
    space_time = {
        "n_levels": 2,
        "log2_table_rows": 10,
        "space_coarse_m": 2e5,
        "space_fine_m": 5e4,
        "time_coarse_h": 24 * 365.25 * 20,
        "time_fine_h": 24 * 365.25,
    }
    return {
        "features_per_level": 2,
        "grids": [
            {"name": "xyz", "n_levels": 5, "log2_table_rows": 12, "space_coarse_m": 5e4, "space_fine_m": 1e3},
            *({"name": name, **space_time} for name in ("xyt", "yzt", "xzt")),
        ],
    }


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised small model whose RGB projection is fitted to its own output over AREA."""
    from model_files import write_random_model

    from earth4d_gis.encoder import EncoderConfig
    from earth4d_gis.geodesy import TimeSpan

    config = EncoderConfig.from_spec("plugin-test", _tiny_spec(), TimeSpan())
    return write_random_model(
        tmp_path_factory.mktemp("model") / "tiny_model.pt", config, seed=0, randomize="encoder",
        rgb_from=(AREA, DATE, 600.0), dataset_fingerprint="plugin-test",
    )  # fmt: skip


@pytest.fixture(scope="session")
def earth4d_cli() -> str:
    """The earth4d-gis executable of the Python running the tests (the subprocess path's environment)."""
    exe = Path(sys.executable).parent / "earth4d-gis"
    assert exe.is_file(), f"{exe} is missing: install the project into this environment"
    return str(exe)


def wait_for(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    """Process Qt events until ``condition()`` holds; fail after ``timeout`` seconds."""
    from qgis.core import QgsApplication

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s")
        QgsApplication.processEvents()
        time.sleep(0.01)


@pytest.fixture
def run_task() -> Callable[..., Any]:
    """Run a QgsTask through QGIS's task manager and wait, events flowing, until it has finished."""
    from qgis.core import QgsApplication, QgsTask

    def run(task: QgsTask, timeout: float = 120.0) -> QgsTask:
        finished: list[bool] = []
        task.taskCompleted.connect(lambda: finished.append(True))
        task.taskTerminated.connect(lambda: finished.append(False))
        QgsApplication.taskManager().addTask(task)
        wait_for(lambda: bool(finished), timeout)
        QgsApplication.processEvents()
        return task

    return run


@pytest.fixture
def waiter() -> Callable[..., None]:
    return wait_for
