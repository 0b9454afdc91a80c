#!/usr/bin/env bash
# Install simsiam_mm and the OpenMMLab stack it runs on into a virtual environment, from scratch.
#
#   bash tools/install.sh                 # full (default): mmcv 2.1.0 WITH its compiled ops, mmdet, mmsegmentation;
#                                         # builds mmcv if no wheel is offered (measured: 19 min 50 s on 2 cores)
#   bash tools/install.sh --lite          # light: mmcv-lite (pure Python), no mmdet/mmseg; pretraining, kNN,
#                                         # linear/SVM probes, converters, publishing (measured: ~1-2 min)
#   bash tools/install.sh --full          # the same as no flag; over a light venv it upgrades it in place
#   PIP_FIND_LINKS=/path/to/wheels bash tools/install.sh   # use a prebuilt mmcv wheel where one matches
#   VENV=/tmp/venv-lite bash tools/install.sh --lite       # the venv's location (default: .venv in the repo root)
#
# Pins and the reason for each are in requirements/. No installed package's files are patched.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
MODE=full
for arg in "$@"; do
  case "$arg" in
    --lite) MODE=lite ;;
    --full) MODE=full ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "tools/install.sh: unknown option '$arg' (use --lite, --full or --help)" >&2; exit 2 ;;
  esac
done

"$PYTHON" -c 'import sys; assert sys.version_info[:2] >= (3, 8), "simsiam_mm needs Python >= 3.8"'
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
echo "[install] $MODE install into $VENV"
# One venv, one mmcv flavour: pip would happily put mmcv-lite over mmcv's files or the reverse.
if [ "$MODE" = lite ] && "${PIP[@]}" show -q mmcv 2>/dev/null; then
  echo "[install] $VENV has mmcv with compiled ops (a full install): the light install needs its own venv," \
       "e.g. VENV=/tmp/venv-lite bash tools/install.sh --lite" >&2
  exit 1
elif [ "$MODE" = full ] && "${PIP[@]}" show -q mmcv-lite 2>/dev/null; then
  # Upgrading a light venv: mmcv-lite's files go first, so that mmcv with its ops does not land on top of them.
  echo "[install] $VENV has mmcv-lite (a --lite install): upgrading it to the full install (mmcv-lite removed first)"
  "${PIP[@]}" uninstall -q -y mmcv-lite
fi

# Run "$@" in the background, printing the elapsed time every 30 s with the expected duration; its output goes to a
# log that is shown in full if it fails (a silent 20-minute compile looks like a hang).
with_progress() {
  local what="$1" expected="$2"; shift 2
  local log start pid
  log="$(mktemp)"; start=$(date +%s)
  "$@" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in 1 2 3 4 5 6; do sleep 5; kill -0 "$pid" 2>/dev/null || break 2; done
    local s=$(( $(date +%s) - start )) last
    last="$(tail -c 200 "$log" | tr -d '\r' | tail -n 1 | cut -c1-90)"
    echo "[install] $what: $((s / 60)) min $((s % 60)) s elapsed (expected $expected); last output: $last"
  done
  if ! wait "$pid"; then
    cat "$log" >&2; rm -f "$log"
    echo "[install] $what failed after $(( $(date +%s) - start )) s (its output is above)" >&2
    return 1
  fi
  rm -f "$log"
  echo "[install] $what: done in $(( $(date +%s) - start )) s"
}

install_mmcv_with_ops() {
  if "$VENV/bin/python" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
    return 0
  fi
  # torch >= 2.x headers need C++20 but mmcv 2.1.0's setup.py appends -std=c++17 last; with GCC the last -std wins,
  # so a compiler wrapper that appends -std=c++20 fixes the build without editing any source.
  local wrap jobs
  wrap="$(mktemp -d)"
  printf '#!/bin/sh\nexec %s "$@" -std=c++20\n' "${CXX:-g++}" > "$wrap/cxx20"
  chmod +x "$wrap/cxx20"
  jobs="${MAX_JOBS:-$(nproc)}"
  # Measured on 2 cores: 11 min 11 s for the compile alone; a matching wheel in PIP_FIND_LINKS takes seconds.
  with_progress "mmcv 2.1.0 (a wheel from PIP_FIND_LINKS if one matches, else a compile of 77 objects)" \
    "seconds with a wheel; ~11-20 min on 2 cores to compile, less with more cores (MAX_JOBS=$jobs)" \
    env CXX="$wrap/cxx20" MMCV_WITH_OPS=1 MAX_JOBS="$jobs" \
    "${PIP[@]}" install --no-build-isolation -r "$ROOT/requirements/mmcv.txt"
  rm -rf "$wrap"
}

echo "[install] build tools"
"${PIP[@]}" install -q --upgrade pip wheel 'setuptools<81'   # mmcv 2.1.0's setup.py imports pkg_resources

echo "[install] torch, numpy<2 and the pure-python requirements"
"${PIP[@]}" install -q -r "$ROOT/requirements/torch.txt"
if [ "$MODE" = lite ]; then
  echo "[install] mmengine, mmcv-lite 2.1.0 (pure Python), mmpretrain 1.2.0 (--no-deps) and its requirements"
  "${PIP[@]}" install -q -r "$ROOT/requirements/lite.txt" -r "$ROOT/requirements/tests.txt"
  "${PIP[@]}" install -q --no-deps -r "$ROOT/requirements/mmpretrain.txt"
else
  "${PIP[@]}" install -q -r "$ROOT/requirements/build.txt"
  install_mmcv_with_ops
  echo "[install] mmpretrain, mmdet, mmsegmentation and test tools"
  "${PIP[@]}" install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
fi
echo "[install] simsiam_mm (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

SIMSIAM_MM_INSTALL_MODE="$MODE" "$VENV/bin/python" - <<'PY'
import os
import mmcv, mmengine, mmpretrain, numpy, torch, torchvision
import simsiam_mm
line = (f"torch {torch.__version__}, torchvision {torchvision.__version__}, numpy {numpy.__version__}, "
        f"mmengine {mmengine.__version__}, mmcv {mmcv.__version__}")
if os.environ['SIMSIAM_MM_INSTALL_MODE'] == 'full':
    import mmcv.ops, mmdet, mmseg
    line += f" (ops), mmpretrain {mmpretrain.__version__}, mmdet {mmdet.__version__}, mmseg {mmseg.__version__}"
else:
    line += (f"-lite (no ops), mmpretrain {mmpretrain.__version__}; "
             "no mmdet/mmseg (the downstream benchmarks need the full install)")
print(f"[install] ok: {line}, simsiam_mm {simsiam_mm.__version__}")
PY
"${PIP[@]}" check
echo "[install] activate with: source $VENV/bin/activate"
