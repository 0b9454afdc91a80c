"""Evaluate a checkpoint with an OpenMMLab config (e.g. a linear-evaluation config)."""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.runner import Runner

from simsiam_mm.engine.config_check import check_values, load_config, merge_options
from simsiam_mm.engine.launch import prepare_distributed
from simsiam_mm.errors import MissingPathError, add_debug_flag, cli_main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the evaluation results')
    parser.add_argument('--out', help='dump the evaluation metrics to this pickle/json file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override config settings, key=value pairs')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_debug_flag(parser)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


@cli_main
def main() -> None:
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise MissingPathError(f'{args.checkpoint}: checkpoint file does not exist — check the CHECKPOINT argument.')
    cfg = load_config(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        merge_options(cfg, args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    check_values(cfg)
    prepare_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    if args.out:
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    main()
