"""The settings page in real QGIS: it makes the plugin's own environment (from the project's wheel, built
here, and torch 2.13.0+cpu from pip's configured sources), can cancel, says what went wrong in plain words,
and reports diagnostics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import wait_for

pytestmark = pytest.mark.qgis

ROOT = Path(__file__).resolve().parents[2]
BASE_PYTHON = "/usr/bin/python3"
"""The system Python: the torch wheel this machine's pip offers (PIP_FIND_LINKS) is built for it."""


@pytest.fixture(scope="session")
def project_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout as a wheel, built once per session (what "earth4d-gis from" points at)."""
    folder = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(folder),
         str(ROOT)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (wheel,) = folder.glob("earth4d_gis-*.whl")
    return wheel


@pytest.fixture
def page(qgis_app: Any, plugin_package: Any, tmp_path: Path) -> Any:
    from earth4d.core import settings
    from earth4d.gui.settings_page import SettingsWidget

    settings.set_environment_folder(str(tmp_path / "profile" / "earth4d" / "python-env"))
    widget = SettingsWidget()
    widget.show()
    yield widget
    if widget.task is not None:
        widget.task.cancel()
        wait_for(lambda: widget.task is None, 60)
    widget.deleteLater()


def _choose(page: Any, package: str, build: str = "cpu", index: str = "configured") -> None:
    page.base_python_widget.setFilePath(BASE_PYTHON)
    page.package_widget.setFilePath(package)
    page.build_combo.setCurrentIndex(page.build_combo.findData(build))
    page.index_edit.setText(index)


@pytest.mark.slow
def test_set_up_makes_a_working_environment_from_the_projects_wheel(page: Any, project_wheel: Path) -> None:
    from earth4d.core import settings
    from earth4d.core.environment import is_environment, venv_python
    from earth4d.core.runners import choose_runner

    _choose(page, str(project_wheel))
    folder = page.folder()
    page.setup_button.click()
    assert page.task is not None and page.cancel_button.isEnabled() and not page.setup_button.isEnabled()
    wait_for(lambda: page.task is None, 1500)
    assert page.last_error == "", page.log_view.toPlainText()[-3000:]
    assert is_environment(folder) and not folder.with_name(folder.name + ".partial").exists()
    log = page.log_view.toPlainText()
    assert "torch==2.13.0+cpu" in log and project_wheel.name in log
    # Each step's name heads its output in the log, in order (the task starts before a test could connect
    # to its signals, so the log, not the signal, is what is checked).
    stages = [line[3:] for line in log.splitlines() if line.startswith("== ")]
    assert stages[0].startswith("Creating a Python environment") and stages[-1] == "The environment is ready"
    verbs = [stage.split()[0] for stage in stages]
    assert verbs == ["Creating", "Installing", "Installing", "Checking", "The"]
    assert page.stage_label.text() == "The environment is ready."
    assert page.progress_bar.value() == 100
    status = page.status_label.text()
    assert status.startswith("Ready: earth4d-gis 0.") and "torch 2.13.0+cpu" in status
    assert page.setup_button.text() == "Reinstall"
    python = venv_python(folder)
    check = subprocess.run(
        [str(python), "-c", "import sys, torch, earth4d_gis; print(sys.prefix, torch.__version__, "
         "'qgis' in sys.modules); import importlib.util as u; print(u.find_spec('qgis') is None)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    prefix, torch_version, _qgis, *_ = check.stdout.split()
    assert Path(prefix) == folder and torch_version == "2.13.0+cpu"
    assert check.stdout.split()[-1] == "True", "the environment does not see QGIS's own packages"
    info = json.loads((folder / "earth4d-ready.json").read_text())
    assert info["torch"] == "2.13.0+cpu" and info["cuda"] is False
    settings.set_cli_path("")
    runner = choose_runner(settings.RunMode.SUBPROCESS)
    assert runner.command[0] == str(python), "the subprocess runner uses the plugin's environment"
    version = subprocess.run([*runner.command, "--version"], capture_output=True, text=True, check=True)
    assert "earth4d-gis, version 0." in version.stdout


def test_cancel_leaves_no_partial_environment(page: Any, project_wheel: Path) -> None:
    _choose(page, str(project_wheel))
    folder = page.folder()
    page.setup_button.click()
    task = page.task
    wait_for(lambda: (folder.with_name(folder.name + ".partial") / "pyvenv.cfg").is_file(), 120)
    page.cancel_button.click()
    wait_for(lambda: page.task is None, 60)
    assert task.was_cancelled
    assert not folder.exists() and not folder.with_name(folder.name + ".partial").exists()
    assert "Cancelled" in page.stage_label.text() and page.last_error == ""
    assert page.setup_button.isEnabled() and page.setup_button.text() == "Set up"


def test_a_missing_package_is_a_plain_error(
    page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qgis.core import QgsApplication

    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # only the folder below: nothing to download
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    logged: list[str] = []
    QgsApplication.messageLog().messageReceived.connect(lambda message, tag, level: logged.append(message))
    _choose(page, str(empty))
    page.setup_button.click()
    wait_for(lambda: page.task is None, 180)
    expected = (
        "A package was not found: torch==2.13.0+cpu is not available for this Python and system from the "
        "package source."
    )
    assert page.last_error == expected and page.error_label.text() == expected
    assert page.error_label.isVisible() and "Traceback" not in page.error_label.text()
    assert sum(expected in message for message in logged) == 1
    assert "No matching distribution found for torch==2.13.0+cpu" in page.log_view.toPlainText()
    assert not page.folder().exists() and not page.folder().with_name("python-env.partial").exists()


def test_cuda_asked_for_without_a_gpu_says_so(page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no nvidia-smi here
    _choose(page, "", build="cuda")
    page.setup_button.click()
    assert page.task is None
    assert page.last_error.startswith("A CUDA build of torch needs an NVIDIA driver of version 525 or newer")
    assert "Choose the CPU build." in page.last_error


def test_diagnostics_report_versions_environment_backends_and_gpu(page: Any, earth4d_cli: str) -> None:
    page.cli_widget.setFilePath(earth4d_cli)
    page.diagnostics_button.click()
    assert not page.diagnostics_button.isEnabled()
    wait_for(lambda: page.diagnostics_task is None, 900)
    report = page.log_view.toPlainText()
    assert report.startswith("Earth4D plugin 0.")
    assert "QGIS 3." in report and f"Environment: {earth4d_cli}" in report
    assert "GPU (nvidia-smi): " in report
    assert "earth4d-gis 0." in report and "torch       2.13.0" in report
    assert "backends:" in report and "reference" in report
