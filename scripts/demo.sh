#!/usr/bin/env bash
# The main job on the built-in demo world: train a model, then rasterize a map of the Bay Area.
# Usage: scripts/demo.sh [OUTPUT_DIR]   (default: ./demo_outputs). Takes about 5-7 minutes on 2 CPU cores
# (training stops early or after EARTH4D_DEMO_MINUTES, default 4).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/demo_outputs}")"
"$ROOT/scripts/setup_env.sh"
E4D="${EARTH4D_VENV:-$ROOT/.venv}/bin/earth4d-gis"

"$E4D" info
# The defaults are the recommended settings: no tuning flags, only a time limit.
"$E4D" train --dataset demo --time-limit "${EARTH4D_DEMO_MINUTES:-4}" --output-dir "$OUT" --overwrite
"$E4D" rasterize --model "$OUT/final_model.pt" --bbox -122.55 37.65 -122.30 37.85 --date 2024-06-01 \
    --output rgb --resolution 20 --out "$OUT/bay_area_2024_rgb.tif" --overwrite
"$E4D" rasterize --model "$OUT/final_model.pt" --bbox -122.55 37.65 -122.30 37.85 --date 2024-06-01 \
    --output embeddings --resolution 20 --out "$OUT/bay_area_2024_embeddings.tif" --overwrite

echo
echo "Outputs:"
echo "  model                 $OUT/final_model.pt"
echo "  metrics               $OUT/metrics.json"
echo "  training curves       $OUT/training_curves.png"
echo "  per-epoch maps        $OUT/visualizations/"
echo "  RGB GeoTIFF           $OUT/bay_area_2024_rgb.tif"
echo "  64-band GeoTIFF       $OUT/bay_area_2024_embeddings.tif"
