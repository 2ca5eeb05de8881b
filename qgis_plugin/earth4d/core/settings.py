"""The plugin's settings, kept in QgsSettings under ``earth4d/`` so they survive QGIS restarts."""

from __future__ import annotations

from enum import Enum

from qgis.core import QgsApplication, QgsSettings

from .environment import default_folder

_PREFIX = "earth4d/"


class RunMode(str, Enum):
    """Where the core runs: the earth4d-gis CLI of an environment (the default), or QGIS's own Python.

    In QGIS's Python, torch, rasterio and pyproj load next to QGIS's own GDAL and PROJ; that is only for
    users who choose it in the settings.
    """

    SUBPROCESS = "subprocess"
    IN_PROCESS = "in-process"


class TorchBuild(str, Enum):
    """Which torch wheel the managed environment gets: chosen by ``nvidia-smi``, or forced."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


def _get(key: str, default: str = "") -> str:
    value = QgsSettings().value(_PREFIX + key, default)
    return "" if value is None else str(value)


def _set(key: str, value: str) -> None:
    QgsSettings().setValue(_PREFIX + key, value)


def model_path() -> str:
    """The model file the user chose last."""
    return _get("model_path")


def set_model_path(path: str) -> None:
    _set("model_path", path)


def run_mode() -> RunMode:
    """The configured run mode; anything else stored (e.g. an older "auto") reads as SUBPROCESS."""
    try:
        return RunMode(_get("run_mode", RunMode.SUBPROCESS.value))
    except ValueError:
        return RunMode.SUBPROCESS


def set_run_mode(mode: RunMode) -> None:
    _set("run_mode", RunMode(mode).value)


def cli_path() -> str:
    """Path to the ``earth4d-gis`` executable, or to a Python that has earth4d-gis installed, chosen by the
    user instead of the plugin's own environment (empty: use the plugin's own)."""
    return _get("cli_path")


def set_cli_path(path: str) -> None:
    _set("cli_path", path)


def output_folder() -> str:
    """The folder of the last output, offered for the next one."""
    return _get("output_folder")


def set_output_folder(path: str) -> None:
    _set("output_folder", path)


def last_date() -> str:
    """The date (YYYY-MM-DD) used last."""
    return _get("date", "2024-06-01")


def set_last_date(date: str) -> None:
    _set("date", date)


def output_kind() -> str:
    """The output kind chosen last in the dialog (its value, e.g. ``rgb``)."""
    return _get("output_kind", "rgb")


def set_output_kind(kind: str) -> None:
    _set("output_kind", kind)


def base_python() -> str:
    """The Python the plugin's own environment is made from (empty: found on PATH)."""
    return _get("base_python")


def set_base_python(path: str) -> None:
    _set("base_python", path)


def package_source() -> str:
    """What pip installs earth4d-gis from: empty for the package index, else a wheel or a folder of wheels."""
    return _get("package_source")


def set_package_source(source: str) -> None:
    _set("package_source", source)


def torch_build() -> TorchBuild:
    """CPU, CUDA, or chosen by ``nvidia-smi`` (AUTO, the default)."""
    try:
        return TorchBuild(_get("torch_build", TorchBuild.AUTO.value))
    except ValueError:
        return TorchBuild.AUTO


def set_torch_build(build: TorchBuild) -> None:
    _set("torch_build", TorchBuild(build).value)


def torch_index() -> str:
    """The pip index the torch wheel comes from: empty for the official PyTorch index of the chosen build
    (download.pytorch.org/whl/cpu or .../cuXYZ), ``configured`` for pip's own configuration, or a URL."""
    return _get("torch_index")


def set_torch_index(index: str) -> None:
    _set("torch_index", index)


def environment_folder() -> str:
    """The folder of the plugin's own environment: stored, else ``earth4d/python-env`` in the QGIS profile."""
    return _get("environment_folder") or str(default_folder(QgsApplication.qgisSettingsDirPath()))


def set_environment_folder(path: str) -> None:
    _set("environment_folder", path)
