"""Train with an OpenMMLab config: ``python tools/train.py CONFIG`` or ``bash tools/dist_train.sh CONFIG GPUS``."""
import argparse
import logging

from mmengine.logging import print_log

from simsiam_mm.apis import (
    add_launch_args,
    check_batch_size,
    check_config,
    check_train_data,
    check_values,
    check_work_dir,
    decide_resume,
    load_config,
    merge_args,
    parse_launch_args,
    prepare_distributed,
    split_global_batch,
)
from simsiam_mm.engine import SimSiamRunner
from simsiam_mm.errors import cli_main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model (SimSiam pretraining or an evaluation protocol)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or, without a value, from the latest one in the work dir')
    parser.add_argument('--no-validate', action='store_true', help='skip validation during training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the lr linearly with the actual total batch (GPUs x batch) against auto_scale_lr.base_batch_size')
    parser.add_argument('--no-pin-memory', action='store_true', help='do not pin memory in the dataloaders')
    parser.add_argument('--no-persistent-workers', action='store_true', help='do not keep dataloader workers alive')
    return parse_launch_args(add_launch_args(parser))


@cli_main
def main() -> None:
    args = parse_args()
    cfg = merge_args(load_config(args.config), args)
    notes = check_values(cfg)  # types and ranges torch would report deep inside, after the whole start-up
    check_config(cfg)  # typos, unknown types and keys, missing data folders: named, with the nearest names
    check_work_dir(cfg.work_dir)
    prepare_distributed(cfg, args.launcher)
    split_global_batch(cfg)  # global_batch_size over the processes: train_dataloader.batch_size
    check_batch_size(cfg)
    runner = SimSiamRunner.from_cfg(cfg)  # mmengine's Runner, checked loads, short start-up dumps on the console
    for note in notes:
        print_log(note, logger='current', level=logging.WARNING)
    complete = decide_resume(cfg, runner)  # read once; architecture, model-only file, dataset size: before any step
    if complete is not None:
        print_log(complete, logger='current', level=logging.WARNING)
        return
    check_train_data(runner)
    runner.train()


if __name__ == '__main__':
    main()
