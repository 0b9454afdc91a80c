#!/usr/bin/env bash
# MMDetection benchmark runner: the same as tools/benchmarks/dist_train.sh (see there), under the toolbox's name.
exec bash "$(dirname "$0")/../dist_train.sh" "$@"
