"""Fine-tune and evaluate a downstream benchmark (MMDetection / MMSegmentation) from a SimSiam checkpoint.

    python tools/benchmarks/train_downstream.py CONFIG PRETRAIN [--work-dir DIR] [--data-root DIR] [--smoke]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm]

or through ``tools/benchmarks/{mmdetection,mmsegmentation}/dist_train.sh CONFIG PRETRAIN GPUS [args]``.

PRETRAIN is a checkpoint of our pretraining (``tools/train.py`` writes it): only its ``backbone.*`` tensors are used.
Every module the config initialises with ``init_cfg=dict(type='CheckedPretrained', prefix='backbone.')`` (the
backbone; also the res5 head of the C4 detectors) loads PRETRAIN itself (:mod:`simsiam_mm.apis.downstream`). The run
stops naming PRETRAIN when the file is missing or damaged (before anything is built), and at initialisation when it
has no ``backbone.*`` tensor or a module's tensors do not match its tensors by name and shape
(:mod:`simsiam_mm.engine.pretrained`). At the end the
final metrics are printed as a table and written to ``WORK_DIR.json`` (next to the work dir). Without CUDA the same
command runs on the CPU: one process reverts SyncBN to BN, several (``dist_train.sh CONFIG PRETRAIN 2``) use gloo.
``--smoke`` shrinks the run to a few iterations at a tiny image scale (what the tests run). """
import argparse
import json
import math
import os.path as osp
from typing import Any

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from simsiam_mm.apis import (
    add_launch_args,
    check_dataloader_paths,
    load_config,
    merge_launch_args,
    merge_options,
    parse_launch_args,
    prepare_distributed,
)
from simsiam_mm.apis.downstream import LastMetricsHook, pretrained_loads, set_data_root, set_pretrained, smoke_cfg
from simsiam_mm.checkpoint import checkpoint_problem
from simsiam_mm.engine import SimSiamRunner
from simsiam_mm.errors import CheckpointError, cli_main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Fine-tune a downstream benchmark from a SimSiam checkpoint')
    parser.add_argument('config',
                        help='a config under benchmarks/mmdetection or benchmarks/mmsegmentation')
    parser.add_argument('pretrain', help='SimSiam checkpoint (its backbone.* tensors initialise the model)')
    parser.add_argument('--data-root', help='replace the datasets\' data_root (e.g. data/coco/) by this folder')
    parser.add_argument('--smoke', action='store_true', help='a few iterations at a tiny scale (CPU check)')
    parser.add_argument('--smoke-iters', type=int, default=2, help='training iterations in smoke mode')
    parser.add_argument('--smoke-size', type=int, default=128,
                        help='smoke mode: short side of the detection test scale, or segmentation crop size')
    parser.add_argument('--smoke-proposals', type=int, default=32, help='smoke mode: RPN proposals / RoIs per image')
    parser.add_argument('--smoke-val-images', type=int, default=2, help='smoke mode: images evaluated (first N)')
    parser.add_argument('--resume', action='store_true', help='resume from the latest checkpoint in the work dir')
    add_launch_args(parser, 'default: work_dirs/benchmarks/<config name>/<checkpoint name>; metrics go to '
                    'WORK_DIR.json')
    return parse_launch_args(parser, argv)


def default_work_dir(config: str, pretrain: str) -> str:
    """``work_dirs/benchmarks/<config name>/<checkpoint name>``: one folder per (benchmark, checkpoint) pair."""
    return osp.join('work_dirs', 'benchmarks', osp.splitext(osp.basename(config))[0],
                    osp.splitext(osp.basename(pretrain))[0])


def build_cfg(args: argparse.Namespace) -> tuple[Config, list[str]]:
    """Load the config and apply the command line; return it with the modules initialised from PRETRAIN."""
    cfg = merge_launch_args(load_config(args.config), args, default_work_dir(args.config, args.pretrain))
    if args.data_root:
        set_data_root(cfg, args.data_root)
    if args.smoke:
        smoke_cfg(cfg, iters=args.smoke_iters, size=args.smoke_size, proposals=args.smoke_proposals,
                  val_images=args.smoke_val_images)
    if args.resume:
        cfg.resume, cfg.load_from = True, None
    merge_options(cfg, args.cfg_options)
    targets = set_pretrained(cfg.model, args.pretrain)
    return cfg, targets


# Which key is the published figure (SimSiam Table 5 reports VOC07+12 AP50, AP, AP75; mmdet's VOCMetric names the
# mean over its IoU thresholds `mAP`)
PUBLISHED_AS = {'pascal_voc/AP50': 'the figure comparable to the published VOC07+12 AP50',
                'pascal_voc/mAP': 'AP, the mean over IoU 0.50:0.05:0.95 (not AP50)'}


def format_table(metrics: dict[str, Any], title: str) -> str:
    """A markdown table of the metrics, one row each, and what the published tables call the VOC figures."""
    rows = [f'| {k} | {v:.4f} |' if isinstance(v, float) else f'| {k} | {v} |' for k, v in metrics.items()]
    notes = [f'{k}: {note}' for k, note in PUBLISHED_AS.items() if k in metrics]
    return '\n'.join([title, '', '| metric | value |', '|---|---|', *rows, *([''] + notes if notes else [])])


def run(cfg: Config, pretrain: str, targets: list[str], extra_hooks: list[Hook] | None = None) -> dict[str, Any]:
    """Train and evaluate; return (and on rank 0 print and save) the final metrics with the load report."""
    problem = checkpoint_problem(pretrain)  # missing, empty, cut short: named before anything is built
    if problem is not None:
        raise CheckpointError(f'{pretrain}: cannot read the pretrained checkpoint: {problem}')
    check_dataloader_paths(cfg)  # data_root, image folders, annotation files (VOC12aug's aug.txt): before any work
    prepare_distributed(cfg, cfg.launcher)
    runner = SimSiamRunner.from_cfg(cfg)  # mmengine's Runner, short start-up dumps on the console
    last = LastMetricsHook()
    runner.register_hook(last)
    for hook in extra_hooks or []:
        runner.register_hook(hook)
    runner.train()  # initialises every target from PRETRAIN itself, checked, or stops naming it
    metrics = last.metrics if last.metrics else runner.test()
    loaded = pretrained_loads(runner.model.module if is_model_wrapper(runner.model) else runner.model, targets)
    result = dict(config=cfg.filename, pretrain=pretrain, work_dir=cfg.work_dir, iters=runner.iter,
                  pretrained_load=loaded, metrics={k: _number(v) for k, v in metrics.items()})
    if is_main_process():
        table = format_table(result['metrics'], f'Final metrics: {osp.basename(cfg.filename)} from {pretrain}')
        for row in loaded:
            print(f'Pretrained {pretrain}: {row["module"]}: {row["loaded"]}/{row["module_tensors"]} tensors loaded')
        print(table, flush=True)
        with open(cfg.work_dir.rstrip('/') + '.json', 'w') as f:
            json.dump(result, f, indent=2, default=_jsonable)
    not_finite = [k for k, v in result['metrics'].items() if isinstance(v, float) and not math.isfinite(v)]
    if not_finite:
        print_log(f'non-finite metrics: {not_finite}', logger='current', level=30)
    return result


def _number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _jsonable(value: Any) -> Any:
    return value.tolist() if hasattr(value, 'tolist') else str(value)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    cfg, targets = build_cfg(args)
    return run(cfg, args.pretrain, targets)


if __name__ == '__main__':
    cli_main(main)()
