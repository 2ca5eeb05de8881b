#!/usr/bin/env bash
# Set up everything earth4d-gis needs on a fresh Debian/Ubuntu machine, idempotently:
#   system packages (compiler, Python headers, and with --qgis Debian's QGIS), a virtual environment
#   made from the system Python with --system-site-packages (so QGIS's Python bindings import in it),
#   torch pinned to the CPU build, and this project (non-editable, as a user would install it).
#   With --browser also Debian's chromium and chromedriver, which the web-map tests drive headless.
#   With --screenshots also the QGIS desktop and Xvfb (scripts/plugin_screenshots.sh; no test needs them).
# Usage: scripts/setup_env.sh [--qgis] [--browser] [--screenshots]
#   The venv is $EARTH4D_VENV (default: .venv in the repo).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EARTH4D_VENV:-$ROOT/.venv}"
TORCH_VERSION="${EARTH4D_TORCH_VERSION:-2.13.0}"
WITH_QGIS=0
WITH_BROWSER=0
WITH_SCREENSHOTS=0
for arg in "$@"; do
    case "$arg" in
        --qgis) WITH_QGIS=1 ;;
        --browser) WITH_BROWSER=1 ;;
        --screenshots) WITH_SCREENSHOTS=1 ;;
        *) echo "setup_env.sh: unknown option $arg (use --qgis, --browser, --screenshots)" >&2; exit 2 ;;
    esac
done

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(python3 python3-venv python3-dev g++ ca-certificates)
if [ "$WITH_QGIS" = 1 ]; then packages+=(python3-qgis qgis-providers); fi
if [ "$WITH_BROWSER" = 1 ]; then packages+=(chromium chromium-driver); fi
if [ "$WITH_SCREENSHOTS" = 1 ]; then packages+=(qgis xvfb xauth); fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing system packages: ${missing[*]}"
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment $VENV"
    /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
PY="$VENV/bin/python"

# Install the versions the test suite passed with: constraints.txt, the lock refreshed on purpose by
# scripts/refresh_constraints.sh (EARTH4D_CONSTRAINTS=none resolves afresh; that script uses it).
# Debian's QGIS and GDAL bindings are built against Debian's numpy: never upgrade it inside the venv.
LOCK="${EARTH4D_CONSTRAINTS:-$ROOT/constraints.txt}"
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
if [ "$LOCK" != none ]; then
    [ -f "$LOCK" ] || { log "no constraints file $LOCK (run scripts/refresh_constraints.sh)"; exit 1; }
    grep -v '^numpy==' "$LOCK" >"$CONSTRAINTS"
fi
if sys_numpy="$("$PY" -c 'import numpy; print(numpy.__version__)' 2>/dev/null)"; then
    echo "numpy==$sys_numpy" >>"$CONSTRAINTS"
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    log "installing torch $TORCH_VERSION (CPU build where one is available)"
    "$PY" -m pip install -q "torch==$TORCH_VERSION"
fi
log "installing earth4d-gis and its dependencies"
"$PY" -m pip install -q -c "$CONSTRAINTS" "$ROOT[test]"
# Reinstall the project itself every time so the venv holds exactly this checkout.
"$PY" -m pip install -q --no-deps --force-reinstall "$ROOT"
log "ready: $VENV"
