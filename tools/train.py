"""Train with an OpenMMLab config: ``python tools/train.py CONFIG`` or ``bash tools/dist_train.sh CONFIG GPUS``."""
import argparse
import logging
import os

from mmengine.config import DictAction
from mmengine.logging import print_log

from simsiam_mm.engine.config_check import check_batch_size, check_config, check_values, check_work_dir, load_config
from simsiam_mm.engine.launch import merge_args, prepare_distributed
from simsiam_mm.engine.resume import check_resume, check_train_data
from simsiam_mm.engine.runner import SimSiamRunner
from simsiam_mm.errors import add_debug_flag, cli_main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model (SimSiam pretraining or an evaluation protocol)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or, without a value, from the latest one in the work dir')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision training')
    parser.add_argument('--no-validate', action='store_true', help='skip validation during training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the lr linearly with the actual total batch (GPUs x batch) against auto_scale_lr.base_batch_size')
    parser.add_argument('--no-pin-memory', action='store_true', help='do not pin memory in the dataloaders')
    parser.add_argument('--no-persistent-workers', action='store_true', help='do not keep dataloader workers alive')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs in xxx=yyy format, e.g. train_cfg.max_epochs=2')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_debug_flag(parser)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


@cli_main
def main() -> None:
    args = parse_args()
    cfg = merge_args(load_config(args.config), args)
    notes = check_values(cfg)  # types and ranges torch would report deep inside, after the whole start-up
    check_config(cfg)  # typos, unknown types and keys, missing data folders: named, with the nearest names
    check_work_dir(cfg.work_dir)
    prepare_distributed(cfg, args.launcher)
    check_batch_size(cfg)  # global_batch_size split over the processes
    runner = SimSiamRunner.from_cfg(cfg)  # mmengine's Runner, short start-up dumps on the console
    for note in notes:
        print_log(note, logger='current', level=logging.WARNING)
    complete = check_resume(cfg, runner)  # architecture, model-only file, dataset size: before any step
    if complete is not None:
        print_log(complete, logger='current', level=logging.WARNING)
        return
    check_train_data(cfg, runner)
    runner.train()


if __name__ == '__main__':
    main()
