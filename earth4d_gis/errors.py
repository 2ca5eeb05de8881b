"""Errors whose message is one sentence meant for the user (the CLI and plugin print it as is).

Messages name the Python parameter (``overwrite=True``, ``max_pixels=N``, ``output='int8'``), never a
command-line flag: the CLI rewrites those spellings into its own flags (``earth4d_gis_cli.options``),
and the plugin into its own words.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type name when it has none.

    Library errors (GDAL, OGR, torch, pandas) can span many lines; a user-facing message quotes one.
    """
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


class Earth4DError(Exception):
    """Base class: a problem the user can fix, described in one line."""

    exit_code = 1
    """The command-line exit status for this error."""


class InputError(Earth4DError, ValueError):
    """Bad user input: a coordinate, date, bbox, CRS, file or option value."""


class ModelFileError(Earth4DError):
    """A file that is not a readable earth4d-gis model."""


class DataError(Earth4DError):
    """A dataset that cannot be used as it is (missing columns, bad rows, row-count mismatch)."""


class DownloadError(Earth4DError):
    """A download that failed: unreachable network, HTTP error, or a checksum mismatch."""


class WriteError(Earth4DError, OSError):
    """An output that could not be written (full disk, read-only folder, ...), naming the file and why."""


class CancelledError(Earth4DError):
    """Work stopped because the user asked (Ctrl-C, SIGTERM, a cancelled QGIS task)."""

    exit_code = 130
    """Like a shell's status for a process ended by SIGINT."""
