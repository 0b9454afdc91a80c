#!/usr/bin/env bash
# THE script of the offline kit (tools/kit/build_kit.py copies it to the kit's top folder). On the GPU node:
#
#   bash run_kit.sh [OUT_DIR]          # default OUT_DIR: <kit>/results
#
# 1. installs the kit's wheels, from the kit only (pip --no-index), into <kit>/venv, a venv that sees the node's own
#    torch/torchvision/opencv (--system-site-packages) and shadows its numpy 2 with numpy < 2;
# 2. prints the environment, then measures within ~10 minutes and writes JSON + PNG + a markdown table into OUT_DIR
#    (tools/kit/node_bench.py: GPU throughput ours / mmpretrain / fast path, a short CIFAR-10 SimSiam run).
# Whatever the node cannot do is reported and skipped; nothing is written outside the kit and OUT_DIR.
#
# Settings (environment): KIT_PYTHON (default python3), KIT_VENV (default <kit>/venv), KIT_SKIP_INSTALL=1 (use
# KIT_PYTHON as is: a machine that has the stack, e.g. the CPU dry run in the tests), KIT_TINY=1 (seconds-long CPU
# mode), KIT_BUDGET_S (default 570: the measurement's time budget).
set -uo pipefail
KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$KIT/results}"
PYTHON="${KIT_PYTHON:-python3}"
VENV="${KIT_VENV:-$KIT/venv}"
REQ="$KIT/src/requirements"
start=$(date +%s)

if [ "${KIT_SKIP_INSTALL:-0}" = 1 ]; then
  PY="$PYTHON"
  echo "[kit] install skipped (KIT_SKIP_INSTALL=1): using $PY"
else
  want="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["python_version"])' "$KIT/MANIFEST.json")"
  have="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if [ "$want" != "$have" ]; then
    echo "[kit] WARNING: the kit's wheels are for Python $want but $PYTHON is $have: the install will likely fail;" \
         "rebuild the kit with: python tools/kit/build_kit.py OUT_DIR --python-version $have"
  fi
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv --system-site-packages "$VENV" \
    || { echo "[kit] could not create a venv at $VENV (python3-venv missing?); set KIT_VENV or KIT_SKIP_INSTALL=1"; }
  PY="$VENV/bin/python"
  [ -x "$PY" ] || PY="$PYTHON"
  echo "[kit] installing from $KIT/wheels only (--no-index) into $VENV"
  if ! "$PY" -m pip install -q --no-index --find-links "$KIT/wheels" -r "$REQ/kit.txt" \
     || ! "$PY" -m pip install -q --no-index --find-links "$KIT/wheels" --no-deps -r "$REQ/kit_nodeps.txt"; then
    echo "[kit] WARNING: the install from the kit failed (above); measuring with what is importable"
  fi
  echo "[kit] install: $(( $(date +%s) - start )) s"
fi

export PYTHONPATH="$KIT/src${PYTHONPATH:+:$PYTHONPATH}"
TINY=()
[ "${KIT_TINY:-0}" = 1 ] && TINY=(--tiny)
"$PY" "$KIT/src/tools/kit/node_bench.py" --kit "$KIT" --out "$OUT" --budget-s "${KIT_BUDGET_S:-570}" "${TINY[@]}"
rc=$?
echo "[kit] done in $(( $(date +%s) - start )) s (exit $rc); results in $OUT"
exit $rc
