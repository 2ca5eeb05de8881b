#!/usr/bin/env bash
# The whole test suite, QGIS plugin tests included, on a fresh Debian/Ubuntu machine.
# Installs what it needs (Debian's QGIS and chromium, a venv with torch CPU and the project), then runs
# ruff and pytest.
# Extra arguments go to pytest, e.g. scripts/test.sh -k encoder
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup_env.sh" --qgis --browser
VENV="${EARTH4D_VENV:-$ROOT/.venv}"
cd "$ROOT"
"$VENV/bin/ruff" check .
export QT_QPA_PLATFORM=offscreen
"$VENV/bin/pytest" -ra "$@"
