"""The plugin's own errors: a one-sentence message the message bar shows as it is.

The plugin must work when ``earth4d_gis`` is not importable inside QGIS (the subprocess path), so it
cannot use the core's error classes; the in-process path translates them into these.
"""

from __future__ import annotations


class PluginError(Exception):
    """A problem the user can fix, described in one sentence."""


class Cancelled(PluginError):
    """The user cancelled the work; nothing was written."""

    def __init__(self, message: str = "Cancelled by the user; no output was written.") -> None:
        super().__init__(message)
