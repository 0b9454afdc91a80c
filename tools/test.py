"""Evaluate a checkpoint with an OpenMMLab config (e.g. a linear-evaluation config).

The checkpoint is loaded through the checked loader (:class:`simsiam_mm.engine.SimSiamRunner`): every tensor of the
model must come from it, by name and shape, and the count is logged.
"""
import argparse
import os.path as osp

from simsiam_mm.apis import (
    add_launch_args,
    check_values,
    load_config,
    merge_launch_args,
    merge_options,
    parse_launch_args,
    prepare_distributed,
)
from simsiam_mm.engine import SimSiamRunner
from simsiam_mm.errors import MissingPathError, cli_main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the evaluation metrics to this pickle/json file')
    return parse_launch_args(add_launch_args(parser, 'the folder for the evaluation logs', amp=False))


@cli_main
def main() -> None:
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise MissingPathError(f'{args.checkpoint}: checkpoint file does not exist — check the CHECKPOINT argument.')
    cfg = merge_options(merge_launch_args(load_config(args.config), args), args.cfg_options)
    cfg.load_from = args.checkpoint
    check_values(cfg)
    prepare_distributed(cfg, args.launcher)
    runner = SimSiamRunner.from_cfg(cfg)  # loads the checkpoint checked: names, shapes, a count in the log
    if args.out:
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    main()
