#!/usr/bin/env bash
# Builds and links the project's CUDA extension against a CUDA build of torch, on a machine without a GPU.
#
# Makes a scratch virtual environment with the CUDA build of torch $EARTH4D_TORCH_VERSION (default 2.13.0)
# from the package registry, checks that its CUDA major version matches the installed toolkit's nvcc,
# and builds the extension through the package's own code path (earth4d_gis.encoder.native._build, which
# `load` calls at run time), for TORCH_CUDA_ARCH_LIST (default 9.0: H100/H200). Not part of the test
# command: the first run downloads about 3 GB. Prints the build time and what the built module holds.
#
# Usage: scripts/check_cuda_build.sh      (scratch venv: $EARTH4D_CUDA_CHECK_VENV, default /tmp/earth4d-cuda-check)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EARTH4D_CUDA_CHECK_VENV:-${TMPDIR:-/tmp}/earth4d-cuda-check}"
TORCH_VERSION="${EARTH4D_TORCH_VERSION:-2.13.0}"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
export TORCH_EXTENSIONS_DIR="$VENV/torch_extensions"

log() { printf '\033[1m[check-cuda-build]\033[0m %s\n' "$*" >&2; }

if [ -n "${CUDA_HOME:-}" ]; then NVCC="$CUDA_HOME/bin/nvcc"; else NVCC="$(command -v nvcc || true)"; fi
if [ -z "$NVCC" ] || [ ! -x "$NVCC" ]; then
    log "no nvcc (set CUDA_HOME or put a CUDA toolkit's nvcc on PATH)"
    exit 1
fi
NVCC_RELEASE="$("$NVCC" --version | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p')"
# The toolkit's own folder, also when the nvcc on PATH is a wrapper script elsewhere.
if [ -z "${CUDA_HOME:-}" ]; then
    top="$("$NVCC" --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n 1)"
    CUDA_HOME="$(cd "${top:-$(dirname "$NVCC")/..}" && pwd)"
    export CUDA_HOME
fi
log "nvcc $NVCC: CUDA $NVCC_RELEASE (CUDA_HOME $CUDA_HOME); TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST"

if [ ! -x "$VENV/bin/python" ]; then
    log "creating scratch environment $VENV"
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
# Only the registry's own wheels: a site pip configuration may add a local folder that offers the CPU
# build under the same version number, which pip would prefer.
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_CONSTRAINT PIP_EXTRA_INDEX_URL
if [ -z "${PIP_CERT:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    export PIP_CERT=/etc/ssl/certs/ca-certificates.crt
fi
if ! "$PY" -c "import torch, sys; sys.exit(not (torch.__version__.split('+')[0] == '$TORCH_VERSION' and torch.version.cuda))" 2>/dev/null; then
    log "installing the CUDA build of torch $TORCH_VERSION (about 3 GB with its CUDA libraries)"
    start=$(date +%s)
    "$PY" -m pip install -q "torch==$TORCH_VERSION" numpy ninja
    log "installed in $(( $(date +%s) - start )) s"
fi
TORCH_CUDA="$("$PY" -c 'import torch; print(torch.version.cuda or "")')"
log "torch $("$PY" -c 'import torch; print(torch.__version__)') built with CUDA ${TORCH_CUDA:-none}"
if [ -z "$TORCH_CUDA" ]; then
    log "this torch is a CPU-only build; the registry gave no CUDA build of torch $TORCH_VERSION"
    exit 1
fi
if [ "${TORCH_CUDA%%.*}" != "${NVCC_RELEASE%%.*}" ]; then
    log "nvcc is CUDA $NVCC_RELEASE but torch needs a CUDA ${TORCH_CUDA%%.*}.x toolkit: install one and set CUDA_HOME"
    exit 1
fi

rm -rf "$TORCH_EXTENSIONS_DIR"
cd "$ROOT"
PYTHONPATH="$ROOT" "$PY" - <<'PY'
import subprocess
import time

import torch

from earth4d_gis.encoder import native

print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, GPU visible: {torch.cuda.is_available()}")
args = native.build_arguments("cuda")
print("C++ flags:", " ".join(args["extra_cflags"]), "| nvcc flags:", " ".join(args["extra_cuda_cflags"]))
start = time.perf_counter()
module = native._build("cuda")
seconds = time.perf_counter() - start
print(f"built and imported {module.__file__} in {seconds:.1f} s")
print("functions:", ", ".join(sorted(n for n in dir(module) if not n.startswith("_"))))
undefined = subprocess.run(["nm", "-C", "-u", module.__file__], capture_output=True, text=True).stdout
# Without EARTH4D_WITH_CUDA in the C++ flags, bindings.cpp references neither of these.
checks = {
    "bindings use torch's current CUDA stream": "getCurrentCUDAStream" in undefined,
    "bindings check each kernel launch (C10_CUDA_KERNEL_LAUNCH_CHECK)": "c10_cuda_check_implementation" in undefined,
}
for what, ok in checks.items():
    print(f"{'ok' if ok else 'FAILED'}: {what}")
if not all(checks.values()):
    raise SystemExit(1)
PY
SO="$(find "$TORCH_EXTENSIONS_DIR" -name 'earth4d_hashgrid_cuda_*.so' | head -n 1)"
if command -v cuobjdump >/dev/null 2>&1 || [ -x "$CUDA_HOME/bin/cuobjdump" ]; then
    log "GPU code in $(basename "$SO"):"
    "$(command -v cuobjdump || echo "$CUDA_HOME/bin/cuobjdump")" --list-elf "$SO" | sed 's/^/  /'
fi
log "ok: the CUDA extension builds and links against torch $TORCH_VERSION (CUDA $TORCH_CUDA)"
