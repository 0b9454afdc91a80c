#!/usr/bin/env bash
# Install simsiam_mm and the OpenMMLab stack it runs on into .venv (repo root), from scratch.
#
#   bash tools/install.sh                 # CPU or GPU machine; builds mmcv 2.1.0 with its ops if no wheel is offered
#   PIP_FIND_LINKS=/path/to/wheels bash tools/install.sh   # use a prebuilt mmcv wheel where one matches
#
# Pins and the reason for each are in requirements/runtime.txt. No installed package's files are patched.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

"$PYTHON" -c 'import sys; assert sys.version_info[:2] >= (3, 8), "simsiam_mm needs Python >= 3.8"'
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)

echo "[install] build tools"
"${PIP[@]}" install -q --upgrade pip wheel 'setuptools<81'   # mmcv 2.1.0's setup.py imports pkg_resources

echo "[install] torch, numpy<2 and the pure-python requirements"
"${PIP[@]}" install -q -r "$ROOT/requirements/torch.txt"
"${PIP[@]}" install -q -r "$ROOT/requirements/build.txt"

echo "[install] mmcv 2.1.0 with compiled ops (a wheel from PIP_FIND_LINKS if one matches, else ~10 min build)"
if ! "$VENV/bin/python" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
  # torch >= 2.x headers need C++20 but mmcv 2.1.0's setup.py appends -std=c++17 last; with GCC the last -std wins,
  # so a compiler wrapper that appends -std=c++20 fixes the build without editing any source.
  WRAP="$(mktemp -d)"
  printf '#!/bin/sh\nexec %s "$@" -std=c++20\n' "${CXX:-g++}" > "$WRAP/cxx20"
  chmod +x "$WRAP/cxx20"
  CXX="$WRAP/cxx20" MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "${PIP[@]}" install --no-build-isolation -r "$ROOT/requirements/mmcv.txt"
  rm -rf "$WRAP"
fi

echo "[install] mmpretrain, mmdet, mmsegmentation, simsiam_mm (editable) and test tools"
"${PIP[@]}" install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

"$VENV/bin/python" - <<'PY'
import mmcv, mmcv.ops, mmdet, mmengine, mmpretrain, mmseg, numpy, torch, torchvision
import simsiam_mm
print(f"[install] ok: torch {torch.__version__}, torchvision {torchvision.__version__}, numpy {numpy.__version__}, "
      f"mmengine {mmengine.__version__}, mmcv {mmcv.__version__} (ops), mmpretrain {mmpretrain.__version__}, "
      f"mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, simsiam_mm {simsiam_mm.__version__}")
PY
"${PIP[@]}" check
echo "[install] activate with: source $VENV/bin/activate"
