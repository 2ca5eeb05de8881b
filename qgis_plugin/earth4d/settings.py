"""The plugin's settings, kept in QgsSettings under ``earth4d/`` so they survive QGIS restarts."""

from __future__ import annotations

from enum import Enum

from qgis.core import QgsSettings

_PREFIX = "earth4d/"


class RunMode(str, Enum):
    """Where the core runs: inside QGIS's Python, in a subprocess, or whichever is possible."""

    AUTO = "auto"
    IN_PROCESS = "in-process"
    SUBPROCESS = "subprocess"


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
    """The configured run mode; an unknown stored value reads as AUTO."""
    try:
        return RunMode(_get("run_mode", RunMode.AUTO.value))
    except ValueError:
        return RunMode.AUTO


def set_run_mode(mode: RunMode) -> None:
    _set("run_mode", RunMode(mode).value)


def cli_path() -> str:
    """Path to the ``earth4d-gis`` executable, or to a Python that has earth4d-gis installed."""
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
