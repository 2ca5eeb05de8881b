"""Output files for rasters and point layers: the shared safe-writing helpers of ``earth4d_gis.files``."""

from __future__ import annotations

from ..files import check_output_path, publish, staged_result, staging_folder, write_errors

__all__ = ["check_output_path", "publish", "staged_result", "staging_folder", "write_errors"]
