#!/usr/bin/env bash
# Refresh constraints.txt, the lock of tested versions that scripts/setup_env.sh installs, on purpose:
# after adding or changing a dependency in pyproject.toml, or to move to newer releases.
#   1. sets up a throw-away venv exactly as setup_env.sh does, but without the lock (pip resolves afresh);
#   2. writes every distribution earth4d-gis[test] needs, at the version installed, to constraints.txt;
#   3. runs the whole test suite in that venv (skip with --no-test), so a refreshed lock is a tested one.
# Then review `git diff constraints.txt` and commit it with the test result.
# Usage: scripts/refresh_constraints.sh [--no-test]    (needs the same machine set-up as setup_env.sh --qgis)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_TESTS=1
[ "${1:-}" = "--no-test" ] && RUN_TESTS=0

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
VENV="$WORK/venv"
EARTH4D_VENV="$VENV" EARTH4D_CONSTRAINTS=none bash "$ROOT/scripts/setup_env.sh" --qgis
"$VENV/bin/python" "$ROOT/scripts/lock_constraints.py" >"$WORK/constraints.txt"
if [ "$RUN_TESTS" = 1 ]; then
    (cd "$ROOT" && "$VENV/bin/ruff" check . && QT_QPA_PLATFORM=offscreen "$VENV/bin/pytest" -ra -q)
fi
mv "$WORK/constraints.txt" "$ROOT/constraints.txt"
printf '\033[1m[refresh]\033[0m wrote %s (%d pins)\n' "$ROOT/constraints.txt" \
    "$(grep -c '==' "$ROOT/constraints.txt")" >&2
