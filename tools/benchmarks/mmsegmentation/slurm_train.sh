#!/usr/bin/env bash
# MMSegmentation benchmark runner: the same as tools/benchmarks/slurm_train.sh (see there), under the toolbox's name.
exec bash "$(dirname "$0")/../slurm_train.sh" "$@"
