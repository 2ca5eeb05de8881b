#!/usr/bin/env bash
# Screenshots of the QGIS plugin in the real QGIS desktop under a virtual display (Xvfb):
# qgis_plugin/docs/{dialog,settings,result_map}.png. The plugin is installed from its zip into a fresh,
# temporary QGIS profile; the model runs in the plugin's own environment (made by its "Set up").
# Usage: scripts/plugin_screenshots.sh MODEL "W S E N" ENVIRONMENT_FOLDER
# e.g. a demo model (earth4d-gis train --dataset demo) and "-122.75 37.45 -121.85 38.0" (the Bay Area); the
# result map is the dialog's RGB layer of that area at EARTH4D_SHOTS_RESOLUTION metres (default 100).
# Give it a private TORCH_EXTENSIONS_DIR: the environment's kernels are compiled there once.
# Needs the qgis and xvfb Debian packages (scripts/setup_env.sh --qgis --screenshots installs them).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ "$#" -eq 3 ] || { echo "usage: $0 MODEL \"W S E N\" ENVIRONMENT_FOLDER" >&2; exit 2; }
MODEL="$(realpath "$1")"; BBOX="$2"; ENV_FOLDER="$(realpath "$3")"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PLUGINS="$WORK/profiles/default/python/plugins"
mkdir -p "$PLUGINS" "$WORK/profiles/default/QGIS" "$WORK/results" "$ROOT/qgis_plugin/docs"
python3 "$ROOT/qgis_plugin/build_zip.py" --out "$WORK/earth4d.zip"
python3 -m zipfile -e "$WORK/earth4d.zip" "$PLUGINS"
cat >"$WORK/profiles/default/QGIS/QGIS3.ini" <<INI
[PythonPlugins]
earth4d=true

[qgis]
checkVersion=false
INI
status=0
EARTH4D_SHOTS_OUT="$ROOT/qgis_plugin/docs" EARTH4D_SHOTS_WORK="$WORK/results" EARTH4D_SHOTS_MODEL="$MODEL" \
EARTH4D_SHOTS_BBOX="$BBOX" EARTH4D_SHOTS_ENV="$ENV_FOLDER" \
    xvfb-run -a -s "-screen 0 1400x900x24" \
    qgis --profiles-path "$WORK" --nologo --noversioncheck --code "$ROOT/qgis_plugin/screenshots.py" || status=$?
echo "QGIS exit status: $status; screenshots: $(cat "$WORK/results/status.txt" 2>/dev/null || echo 'no status')"
[ "$status" -eq 0 ] && grep -qx ok "$WORK/results/status.txt"
