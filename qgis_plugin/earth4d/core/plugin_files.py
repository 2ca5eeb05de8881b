"""Where the plugin's own files are: its folder, its icon, its metadata."""

from __future__ import annotations

from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parents[1]
ICON_PATH = PLUGIN_DIR / "icon.png"
METADATA_PATH = PLUGIN_DIR / "metadata.txt"
