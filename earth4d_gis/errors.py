"""Errors whose message is one sentence meant for the user (the CLI and plugin print it as is)."""

from __future__ import annotations


class Earth4DError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class InputError(Earth4DError, ValueError):
    """Bad user input: a coordinate, date, bbox, CRS, file or option value."""


class ModelFileError(Earth4DError):
    """A file that is not a readable earth4d-gis model."""


class DataError(Earth4DError):
    """A dataset that cannot be used as it is (missing columns, bad rows, row-count mismatch)."""


class DownloadError(Earth4DError):
    """A download that failed: unreachable network, HTTP error, or a checksum mismatch."""


class CancelledError(Earth4DError):
    """Work stopped because the user asked (Ctrl-C, a cancelled QGIS task)."""
