#!/usr/bin/env bash
# The GPU check of the CUDA path, as one run on a bare H100/H200 machine without internet (about 8 of its
# 15 minutes): install, build the CUDA extension, the encoder tests on the GPU, compute-sanitizer's memcheck
# on a small forward and backward, a short `earth4d-gis train --device cuda` on the demo world, and the
# encoder and training benchmarks. Everything goes to $OUT (default ./gpu_check_out), at most 8 files.
#
#   scripts/gpu_check.sh --prepare   here, with the package registry: fills .gpu_wheels/ (1 MB) with what
#                                    the GPU machine's image may lack (it has torch, numpy, pandas, scipy,
#                                    matplotlib, click, tqdm, pyarrow, pytest, ninja); the project itself is
#                                    installed there from the tree
#   scripts/gpu_check.sh             there, from the repository root, .gpu_wheels/ carried along
#
# Exit status: 0 when every step passed; the failed steps are listed in $OUT/summary.txt.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="$ROOT/.gpu_wheels"
PY="${PYTHON:-python3}"
# Runtime needs that the image's pandas may lack; the train, bench and test paths import nothing else
# beyond the image's packages (checked below, before anything runs).
CARRIED=(pytz tzdata)

if [ "${1:-}" = "--prepare" ]; then
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    "$PY" -m pip download -q --no-deps --only-binary=:all: -d "$WHEELS" "${CARRIED[@]}"
    du -sh "$WHEELS"
    ls "$WHEELS"
    exit 0
fi

OUT="${OUT:-$ROOT/gpu_check_out}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
SITE="${EARTH4D_GPU_SITE:-/tmp/earth4d-site}"
WORK="${EARTH4D_GPU_WORK:-/tmp/earth4d-gpu-check}"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PATH="$SITE/bin:$PATH" PYTHONUNBUFFERED=1
export QT_QPA_PLATFORM=offscreen  # where pytest-qgis is installed, Qt must not look for a display
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" TORCH_EXTENSIONS_DIR="$WORK/torch_extensions"
export ROOT WHEELS PY OUT SITE WORK
unset EARTH4D_BACKEND  # automatic unless a step names one
mkdir -p "$WORK"
failed=()
summary() { printf '%s\n' "$@" | tee -a "$OUT/summary.txt"; }

# step NAME SECONDS COMMAND...: runs it with a time limit, records pass/fail and the time taken. A command
# that is one of this script's functions runs in a child bash (they are exported below).
step() {
    local name="$1" limit="$2"
    shift 2
    echo "=== $name (limit ${limit} s): $*"
    local start=$SECONDS
    if [ "$(type -t "$1")" = function ]; then set -- bash -c "$1"; fi
    timeout --kill-after=10 "$limit" "$@"
    local rc=$?
    local took=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then summary "ok     $name (${took} s)"; else
        summary "FAILED $name (exit $rc after ${took} s)"
        failed+=("$name")
    fi
    return "$rc"
}

: >"$OUT/summary.txt"
summary "earth4d-gis GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu: /' | tee -a "$OUT/summary.txt"
"$PY" -c 'import sys, torch; print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}), GPU visible: {torch.cuda.is_available()}")' | tee -a "$OUT/summary.txt"
command -v nvcc >/dev/null && nvcc --version | tail -n 2 | head -n 1 | sed 's/^/nvcc: /' | tee -a "$OUT/summary.txt"

install() {
    rm -rf "$SITE"
    local wheels=()
    [ -d "$WHEELS" ] && mapfile -t wheels < <(find "$WHEELS" -name '*.whl')
    if [ "${#wheels[@]}" -gt 0 ]; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "${wheels[@]}" || return 1
    fi
    # The project from this tree (never a carried wheel, which could be older than the tree); where the
    # image's setuptools cannot build it, its packages are linked in place (csrc is found beside them).
    if ! "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$SITE" "$ROOT"; then
        echo "pip could not build the project here; linking its packages instead"
        mkdir -p "$SITE/bin"
        ln -sfn "$ROOT/earth4d_gis" "$SITE/earth4d_gis"
        ln -sfn "$ROOT/cli" "$SITE/earth4d_gis_cli"
        printf '#!/bin/sh\nexec "%s" -c "from earth4d_gis_cli.main import cli; cli()" "$@"\n' "$PY" >"$SITE/bin/earth4d-gis"
        chmod +x "$SITE/bin/earth4d-gis"
    fi
    cd "$WORK" || return 1
    "$PY" - <<'PY'
import importlib
import earth4d_gis
missing = []
for name in ("torch", "numpy", "pandas", "scipy", "matplotlib", "click", "tqdm", "pyarrow", "pytest", "ninja"):
    try:
        importlib.import_module(name)
    except ImportError:
        missing.append(name)
print("earth4d_gis from", earth4d_gis.__file__)
raise SystemExit(f"missing on this machine: {', '.join(missing)}" if missing else 0)
PY
}
export -f install
step install 180 install || { summary "cannot go on without the package"; exit 1; }

build() {
    cd "$WORK" || return 1
    "$PY" - <<'PY' || return 1
import time
import torch
from earth4d_gis.encoder import native
start = time.perf_counter()
module = native.load("cuda")
print(f"cuda extension built and loaded in {time.perf_counter() - start:.1f} s: {module.__file__}")
print(f"TORCH_CUDA_ARCH_LIST={__import__('os').environ['TORCH_CUDA_ARCH_LIST']}, device capability {torch.cuda.get_device_capability()}")
PY
    earth4d-gis info
}
export -f build
step build 420 build || { summary "cannot go on without the CUDA extension"; exit 1; }

# From $WORK, so that the tests import the installed copy, whose extensions the build step compiled.
cd "$WORK" || exit 1
step pytest 420 "$PY" -m pytest -c "$ROOT/pyproject.toml" --rootdir "$ROOT" -ra -p no:cacheprovider \
    "$ROOT/tests/test_encoder_backends.py" "$ROOT/tests/test_encoder_module.py" "$ROOT/tests/test_cuda_path.py" \
    "$ROOT/tests/test_host_syncs.py" --junitxml="$WORK/pytest.xml"
cd "$ROOT" || exit 1

cat >"$WORK/sanitize.py" <<'PY'
"""A small forward and backward through the cuda backend (coordinates' gradient too), for memcheck."""
import torch
from earth4d_gis.encoder import Earth4DEncoder, EncoderConfig
for preset in ("default",):  # seed-162d's 3.2 GB of tables would mostly measure memcheck's own overhead
    enc = Earth4DEncoder(EncoderConfig.preset(preset), backend="cuda", device="cuda")
    coords = torch.rand(2000, 4, dtype=torch.float64, device="cuda")
    coords[:4] = torch.tensor([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1], [1, 0, 1, 0]], dtype=torch.float64)
    coords.requires_grad_(True)
    out = enc(coords)
    out.square().sum().backward()
    enc.indices(coords.detach())
    torch.cuda.synchronize()
    print(preset, "ok:", tuple(out.shape), float(coords.grad.abs().sum()))
PY
if command -v compute-sanitizer >/dev/null; then
    step memcheck 300 compute-sanitizer --tool memcheck --error-exitcode 7 --print-limit 20 "$PY" "$WORK/sanitize.py"
else
    summary "FAILED memcheck (compute-sanitizer not found)"
    failed+=(memcheck)
fi

train() {
    rm -rf "$WORK/train"
    earth4d-gis train --dataset demo --max-samples 100000 --epochs 3 --device cuda \
        --no-video --visualize-every 0 --prediction-samples 0 --output-dir "$WORK/train" || return 1
    cp "$WORK/train/metrics.json" "$OUT/metrics.json"
    "$PY" - "$WORK/train/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print({k: m.get(k) for k in ("encoder_backend", "encoder_backend_fallback", "amp_dtype", "device", "samples_per_second")})
assert m["encoder_backend"] == "cuda", m["encoder_backend"]
assert m.get("encoder_backend_fallback") is None
assert m.get("amp_dtype") == "bfloat16", m.get("amp_dtype")
PY
}
export -f train
step train 300 train

step bench-encoder 240 bash -c "'$PY' bench/encoder.py --json --backend cuda --preset default --preset seed-162d >'$OUT/bench_encoder.json'"
step bench-train 300 bash -c "'$PY' bench/train.py --json --devices cuda >'$OUT/bench_train.json'"
cp "$WORK/pytest.xml" "$OUT/pytest.xml" 2>/dev/null

if [ "${#failed[@]}" -gt 0 ]; then
    summary "failed: ${failed[*]}"
    exit 1
fi
summary "all steps passed"
