"""The plugin's settings page: set up (and manage) its own Python environment, choose where the model runs,
and a Diagnostics report. Shown under Settings → Options → Earth4D and from the dialog's Settings button."""

from __future__ import annotations

import configparser
import json
import platform
import shutil
from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsMessageLog
from qgis.gui import QgsFileWidget, QgsOptionsPageWidget, QgsOptionsWidgetFactory
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core import settings
from ..core.environment import (
    CONFIGURED_INDEX,
    detect_gpu,
    find_base_python,
    install_steps,
    is_environment,
    torch_build_for,
)
from ..core.errors import PluginError
from ..core.plugin_files import ICON_PATH, METADATA_PATH
from ..core.runners import resolve_cli
from .setup_task import DiagnosticsTask, SetupTask

LOG_TAG = "Earth4D"
MODE_LABELS = {
    settings.RunMode.SUBPROCESS: "The plugin's environment, in a separate process (recommended)",
    settings.RunMode.IN_PROCESS: "QGIS's own Python (advanced: earth4d-gis must import inside QGIS)",
}
BUILD_LABELS = {
    settings.TorchBuild.AUTO: "Automatic (CUDA when nvidia-smi reports a supported GPU)",
    settings.TorchBuild.CPU: "CPU",
    settings.TorchBuild.CUDA: "CUDA (NVIDIA GPU)",
}


def plugin_version() -> str:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(METADATA_PATH, encoding="utf-8")
    return parser.get("general", "version", fallback="?")


def environment_summary(folder: str) -> str:
    """One line about the plugin's environment: its versions when ready, else that it is not set up."""
    if not is_environment(folder):
        return "Not set up yet: press Set up (it downloads about 1 GB and takes a few minutes)."
    try:
        info = json.loads((Path(folder) / "earth4d-ready.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    return (
        f"Ready: earth4d-gis {info.get('earth4d_gis', '?')}, torch {info.get('torch', '?')}, "
        f"Python {info.get('python', '?')}"
        + (", CUDA available" if info.get("cuda") else "")
        + "."
    )


def needs_setup() -> bool:
    """True when the default (subprocess) mode has no environment to run: the first-run case."""
    if settings.run_mode() is settings.RunMode.IN_PROCESS or settings.cli_path().strip():
        return False
    return not is_environment(settings.environment_folder()) and shutil.which("earth4d-gis") is None


class SettingsWidget(QWidget):
    """The settings and the environment's set-up; ``apply()`` stores the fields."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task: SetupTask | None = None
        self.diagnostics_task: DiagnosticsTask | None = None
        self.last_error = ""
        self._build()
        self.refresh_status()

    def _build(self) -> None:
        layout = QVBoxLayout(self)

        run_box = QGroupBox("Where the model runs", self)
        run_form = QFormLayout(run_box)
        self.mode_combo = QComboBox(run_box)
        for mode, label in MODE_LABELS.items():
            self.mode_combo.addItem(label, mode.value)
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(settings.run_mode().value))
        run_form.addRow("Run in", self.mode_combo)
        self.cli_widget = QgsFileWidget(run_box)
        self.cli_widget.setStorageMode(QgsFileWidget.GetFile)
        self.cli_widget.setFilePath(settings.cli_path())
        self.cli_widget.lineEdit().setPlaceholderText("empty: the plugin's environment below")
        run_form.addRow("Other environment", self.cli_widget)
        layout.addWidget(run_box)

        env_box = QGroupBox("The plugin's Python environment", self)
        env_form = QFormLayout(env_box)
        self.status_label = QLabel(env_box)
        self.status_label.setWordWrap(True)
        env_form.addRow("Status", self.status_label)
        self.folder_widget = QgsFileWidget(env_box)
        self.folder_widget.setStorageMode(QgsFileWidget.GetDirectory)
        self.folder_widget.setFilePath(settings.environment_folder())
        self.folder_widget.fileChanged.connect(lambda _path: self.refresh_status())
        env_form.addRow("Folder", self.folder_widget)
        self.base_python_widget = QgsFileWidget(env_box)
        self.base_python_widget.setStorageMode(QgsFileWidget.GetFile)
        self.base_python_widget.setFilePath(settings.base_python())
        self.base_python_widget.lineEdit().setPlaceholderText("python3 from PATH")
        env_form.addRow("Made from Python", self.base_python_widget)
        self.package_widget = QgsFileWidget(env_box)
        self.package_widget.setStorageMode(QgsFileWidget.GetFile)
        self.package_widget.setFilter("Python wheel (*.whl);;All files (*)")
        self.package_widget.setFilePath(settings.package_source())
        self.package_widget.lineEdit().setPlaceholderText("earth4d-gis from the package index")
        env_form.addRow("earth4d-gis from", self.package_widget)
        self.build_combo = QComboBox(env_box)
        for build, label in BUILD_LABELS.items():
            self.build_combo.addItem(label, build.value)
        self.build_combo.setCurrentIndex(self.build_combo.findData(settings.torch_build().value))
        env_form.addRow("torch build", self.build_combo)
        self.index_edit = QLineEdit(settings.torch_index(), env_box)
        self.index_edit.setPlaceholderText(
            f"download.pytorch.org (official); '{CONFIGURED_INDEX}': pip's own configuration"
        )
        env_form.addRow("torch from", self.index_edit)

        buttons = QHBoxLayout()
        self.setup_button = QPushButton("Set up", env_box)
        self.setup_button.setObjectName("earth4dSetUp")
        self.setup_button.clicked.connect(self.start_setup)
        self.cancel_button = QPushButton("Cancel", env_box)
        self.cancel_button.clicked.connect(self.cancel_setup)
        self.cancel_button.setEnabled(False)
        self.remove_button = QPushButton("Remove", env_box)
        self.remove_button.clicked.connect(self.remove_environment)
        self.diagnostics_button = QPushButton("Diagnostics", env_box)
        self.diagnostics_button.setObjectName("earth4dDiagnostics")
        self.diagnostics_button.clicked.connect(self.run_diagnostics)
        for button in (self.setup_button, self.cancel_button, self.remove_button, self.diagnostics_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        env_form.addRow("", buttons)
        self.progress_bar = QProgressBar(env_box)
        self.progress_bar.setRange(0, 100)
        self.stage_label = QLabel(env_box)
        self.stage_label.setWordWrap(True)
        env_form.addRow("Progress", self.progress_bar)
        env_form.addRow("", self.stage_label)
        self.error_label = QLabel(env_box)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setVisible(False)
        env_form.addRow("", self.error_label)
        layout.addWidget(env_box)

        self.log_view = QPlainTextEdit(self)
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setPlaceholderText("The set-up's log and the diagnostics report appear here.")
        layout.addWidget(QLabel("Log", self))
        layout.addWidget(self.log_view, 1)

    # --- state ---------------------------------------------------------------------------------------

    def folder(self) -> Path:
        return Path(self.folder_widget.filePath().strip() or settings.environment_folder()).expanduser()

    def refresh_status(self) -> None:
        ready = is_environment(self.folder())
        self.status_label.setText(environment_summary(str(self.folder())))
        self.setup_button.setText("Reinstall" if ready else "Set up")
        self.remove_button.setEnabled(ready and self.task is None)

    def apply(self) -> None:
        """Store the fields (QGIS calls this when the Options dialog is accepted)."""
        settings.set_run_mode(settings.RunMode(self.mode_combo.currentData()))
        settings.set_cli_path(self.cli_widget.filePath().strip())
        settings.set_environment_folder(str(self.folder()))
        settings.set_base_python(self.base_python_widget.filePath().strip())
        settings.set_package_source(self.package_widget.filePath().strip())
        settings.set_torch_build(settings.TorchBuild(self.build_combo.currentData()))
        settings.set_torch_index(self.index_edit.text().strip())

    def show_error(self, message: str) -> None:
        """The error in full (wrapped), once in the log."""
        self.last_error = message
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))
        if message:
            QgsMessageLog.logMessage(message, LOG_TAG, Qgis.Critical)

    def _append(self, line: str) -> None:
        self.log_view.appendPlainText(line)

    # --- set-up --------------------------------------------------------------------------------------

    def start_setup(self) -> None:
        """Make (or remake) the environment in the background with the fields' choices."""
        if self.task is not None:
            return
        self.show_error("")
        self.apply()
        gpu = detect_gpu()
        try:
            build = torch_build_for(settings.torch_build().value, gpu)
            steps = install_steps(
                self.folder(),
                find_base_python(settings.base_python()),
                settings.package_source(),
                build,
                settings.torch_index(),
            )
            self.folder().parent.mkdir(parents=True, exist_ok=True)
        except PluginError as exc:
            self.show_error(str(exc))
            return
        except OSError as exc:
            self.show_error(f"Cannot create {self.folder().parent}: {exc.strerror or exc}.")
            return
        self.log_view.clear()
        gpu_text = f"{gpu.name}, driver {gpu.driver}" if gpu else "none found by nvidia-smi"
        self._append(f"GPU: {gpu_text}; installing the {build} build of torch.")
        task = SetupTask(self.folder(), steps)
        task.line.connect(self._append)
        task.stage.connect(self.stage_label.setText)
        task.progressChanged.connect(lambda value: self.progress_bar.setValue(int(value)))
        task.ready.connect(self._on_ready)
        task.failed.connect(self._on_failed)
        task.cancelled.connect(self._on_cancelled)
        self.task = task
        self._busy(True)
        QgsApplication.taskManager().addTask(task)

    def cancel_setup(self) -> None:
        if self.task is not None:
            self.stage_label.setText("Cancelling…")
            self.task.cancel()

    def _busy(self, busy: bool) -> None:
        self.setup_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.remove_button.setEnabled(not busy and is_environment(self.folder()))

    def _done(self) -> None:
        self.task = None
        self._busy(False)
        self.refresh_status()

    def _on_ready(self, check: str) -> None:
        self.progress_bar.setValue(100)
        self.stage_label.setText("The environment is ready.")
        QgsMessageLog.logMessage(f"Environment ready in {self.folder()}: {check}", LOG_TAG, Qgis.Info)
        self._done()

    def _on_failed(self, message: str) -> None:
        self.stage_label.setText("The set-up failed; the log above has the details.")
        self.show_error(message)
        self._done()

    def _on_cancelled(self) -> None:
        self.progress_bar.setValue(0)
        self.stage_label.setText("Cancelled; the previous environment (if any) is unchanged.")
        self._done()

    def remove_environment(self) -> None:
        folder = self.folder()
        if is_environment(folder):
            shutil.rmtree(folder, ignore_errors=True)
        self.stage_label.setText(f"Removed {folder}.")
        self.refresh_status()

    # --- diagnostics ---------------------------------------------------------------------------------

    def diagnostics_header(self) -> str:
        """What the plugin knows without asking the environment: versions, settings, GPU."""
        self.apply()
        gpu = detect_gpu()
        try:
            command = resolve_cli(settings.cli_path())
            command_text = " ".join(command)
        except PluginError as exc:
            command_text = str(exc)
        return "\n".join(
            [
                f"Earth4D plugin {plugin_version()}",
                f"QGIS {Qgis.QGIS_VERSION}, its Python {platform.python_version()}, {platform.platform()}",
                f"Runs in: {MODE_LABELS[settings.run_mode()]}",
                f"Environment: {command_text}",
                f"Plugin's environment: {self.folder()} ({environment_summary(str(self.folder()))})",
                f"GPU (nvidia-smi): {f'{gpu.name}, driver {gpu.driver}' if gpu else 'none'}",
            ]
        )

    def run_diagnostics(self) -> None:
        """Write the report into the log box (``earth4d-gis info`` runs in the background)."""
        header = self.diagnostics_header()
        try:
            command: list[str] | None = resolve_cli(settings.cli_path())
        except PluginError:
            command = None
        self.log_view.setPlainText(header + "\n(asking the environment: earth4d-gis info …)")
        self.diagnostics_button.setEnabled(False)
        task = DiagnosticsTask(command, header)
        task.report.connect(self._on_report)
        self.diagnostics_task = task
        QgsApplication.taskManager().addTask(task)

    def _on_report(self, text: str) -> None:
        self.log_view.setPlainText(text)
        self.diagnostics_button.setEnabled(True)
        self.diagnostics_task = None


class SettingsDialog(QDialog):
    """The settings page in a window of its own (from the Earth4D dialog); closing it stores the fields."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Earth4D settings")
        self.page = SettingsWidget(self)
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.page)
        layout.addWidget(buttons)
        self.resize(760, 640)

    def done(self, result: int) -> None:
        self.page.apply()
        super().done(result)


class OptionsPage(QgsOptionsPageWidget):
    """The settings page inside QGIS's Options dialog."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.page = SettingsWidget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.page)

    def apply(self) -> None:
        self.page.apply()


class OptionsFactory(QgsOptionsWidgetFactory):
    """Adds the "Earth4D" page to Settings → Options."""

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Earth4D")

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def createWidget(self, parent: QWidget | None = None) -> OptionsPage:  # noqa: N802 - QGIS's name
        return OptionsPage(parent)
