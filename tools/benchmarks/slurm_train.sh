#!/usr/bin/env bash
# Slurm: [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=...] \
#   bash tools/benchmarks/{mmdetection,mmsegmentation}/slurm_train.sh PARTITION JOB_NAME CONFIG PRETRAIN [train_downstream.py args]
# The work dir defaults to work_dirs/benchmarks/<config name>/<checkpoint name>; metrics go to <work dir>.json.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG PRETRAIN [--work-dir DIR] [--cfg-options k=v ...]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
PRETRAIN=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}

# shellcheck disable=SC2086
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$(dirname "$0")/train_downstream.py" "$CONFIG" "$PRETRAIN" --launcher slurm "${@:5}"
