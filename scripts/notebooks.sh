#!/usr/bin/env bash
# Executes every notebook in notebooks/ headlessly against a results folder (default: the
# committed reference results in results/), and fails if any cell fails. Installs Jupyter's
# nbclient, ipykernel and matplotlib at pinned versions into a venv under
# ${SONDE_NOTEBOOKS_DIR:-~/.cache/sonde-notebooks} first (idempotent; needs python3 with pip).
# Usage: scripts/notebooks.sh [RESULTS_DIR]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SONDE_NOTEBOOKS_DIR:-$HOME/.cache/sonde-notebooks}"
RESULTS="$(cd "${1:-$ROOT/results}" && pwd)"

mkdir -p "$DIR"
LOG="$DIR/install.log"
INSTALLER=notebooks.sh
source "$ROOT/scripts/install-lib.sh"

venv "$DIR/py"
pip_pinned "$DIR/py" nbclient==0.11.0 nbformat==5.11.1 ipykernel==7.4.0 matplotlib==3.11.2

# Headless: matplotlib draws to files, and Jupyter keeps its runtime files in the cache.
MPLBACKEND=Agg JUPYTER_RUNTIME_DIR="$DIR/runtime" JUPYTER_PLATFORM_DIRS=1 \
    "$DIR/py/bin/python" "$ROOT/notebooks/execute.py" --results "$RESULTS" "$ROOT"/notebooks/*.ipynb
