#!/usr/bin/env bash
# Fine-tune and evaluate a benchmark config from a SimSiam checkpoint on GPUS GPUs (torchrun):
#   bash tools/benchmarks/{mmdetection,mmsegmentation}/dist_train.sh CONFIG PRETRAIN GPUS [train_downstream.py args]
# The work dir defaults to work_dirs/benchmarks/<config name>/<checkpoint name>; the final metrics are printed and
# written to <work dir>.json. Multi-node: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host PORT=29500.
# Without CUDA, GPUS is the number of CPU processes (DDP over gloo, SyncBN -> BN).
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG PRETRAIN GPUS [--work-dir DIR] [--data-root DIR] [--cfg-options k=v ...]" >&2
    exit 2
fi
CONFIG=$1
PRETRAIN=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

exec "$PYTHON" -m simsiam_mm.apis.launch \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/train_downstream.py" "$CONFIG" "$PRETRAIN" --launcher pytorch "${@:4}"
