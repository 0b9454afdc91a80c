"""Fine-tune and evaluate a downstream benchmark (MMDetection / MMSegmentation) from a SimSiam checkpoint.

    python tools/benchmarks/train_downstream.py CONFIG PRETRAIN [--work-dir DIR] [--data-root DIR] [--smoke]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm]

or through ``tools/benchmarks/{mmdetection,mmsegmentation}/dist_train.sh CONFIG PRETRAIN GPUS [args]``.

PRETRAIN is a checkpoint of our pretraining (``tools/train.py`` writes it): only its ``backbone.*`` tensors are used.
They are saved as ``WORK_DIR/pretrain_backbone.pth`` and every module the config initialises with
``init_cfg=dict(type='CheckedPretrained', prefix='backbone.')`` (the backbone; also the res5 head of the C4 detectors)
loads that file. The run stops before training when PRETRAIN has no ``backbone.*`` tensor, and at initialisation when a
module's tensors do not match the checkpoint's by name and shape (:mod:`simsiam_mm.engine.pretrained`). At the end the
final metrics are printed as a table and written to ``WORK_DIR.json`` (next to the work dir). Without CUDA the same
command runs on the CPU: one process reverts SyncBN to BN, several (``dist_train.sh CONFIG PRETRAIN 2``) use gloo.
``--smoke`` shrinks the run to a few iterations at a tiny image scale (what the tests run). """
import argparse
import json
import math
import os
import os.path as osp
from typing import Any

from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from simsiam_mm.engine.config_check import check_dataloader_paths, load_config, merge_options
from simsiam_mm.engine.launch import prepare_distributed
from simsiam_mm.engine.pretrained import CheckedPretrainedInit
from simsiam_mm.engine.runner import SimSiamRunner
from simsiam_mm.errors import add_debug_flag, cli_main
from simsiam_mm.evaluation.downstream import (
    LastMetricsHook,
    load_backbone_state,
    save_backbone_checkpoint,
    set_data_root,
    set_pretrained,
    smoke_cfg,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Fine-tune a downstream benchmark from a SimSiam checkpoint')
    parser.add_argument('config',
                        help='a config under benchmarks/mmdetection or benchmarks/mmsegmentation')
    parser.add_argument('pretrain', help='SimSiam checkpoint (its backbone.* tensors initialise the model)')
    parser.add_argument(
        '--work-dir', help='default: work_dirs/benchmarks/<config name>/<checkpoint name>; metrics go to WORK_DIR.json')
    parser.add_argument('--data-root', help='replace the datasets\' data_root (e.g. data/coco/) by this folder')
    parser.add_argument('--smoke', action='store_true', help='a few iterations at a tiny scale (CPU check)')
    parser.add_argument('--smoke-iters', type=int, default=2, help='training iterations in smoke mode')
    parser.add_argument('--smoke-size', type=int, default=128,
                        help='smoke mode: short side of the detection test scale, or segmentation crop size')
    parser.add_argument('--smoke-proposals', type=int, default=32, help='smoke mode: RPN proposals / RoIs per image')
    parser.add_argument('--smoke-val-images', type=int, default=2, help='smoke mode: images evaluated (first N)')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--resume', action='store_true', help='resume from the latest checkpoint in the work dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings (applied last), e.g. train_dataloader.batch_size=2')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def default_work_dir(config: str, pretrain: str) -> str:
    """``work_dirs/benchmarks/<config name>/<checkpoint name>``: one folder per (benchmark, checkpoint) pair."""
    return osp.join('work_dirs', 'benchmarks', osp.splitext(osp.basename(config))[0],
                    osp.splitext(osp.basename(pretrain))[0])


def build_cfg(args: argparse.Namespace) -> tuple[Config, list[str]]:
    """Load the config and apply the command line; return it with the modules initialised from PRETRAIN."""
    cfg = load_config(args.config)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or default_work_dir(args.config, args.pretrain)
    if args.data_root:
        set_data_root(cfg, args.data_root)
    if args.smoke:
        smoke_cfg(cfg, iters=args.smoke_iters, size=args.smoke_size, proposals=args.smoke_proposals,
                  val_images=args.smoke_val_images)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume:
        cfg.resume, cfg.load_from = True, None
    if args.cfg_options:
        merge_options(cfg, args.cfg_options)
    targets = set_pretrained(cfg.model, backbone_file(cfg))
    return cfg, targets


def backbone_file(cfg: Config) -> str:
    """Where :func:`run` saves PRETRAIN's backbone tensors for the model's ``init_cfg`` to load."""
    return osp.join(cfg.work_dir, 'pretrain_backbone.pth')


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
    state = load_backbone_state(pretrain)  # fails here, before any work, on a checkpoint without backbone.*
    check_dataloader_paths(cfg)  # data_root, image folders, annotation files (VOC12aug's aug.txt): before any work
    save_backbone_checkpoint(state, backbone_file(cfg), source=pretrain)
    prepare_distributed(cfg, cfg.launcher)
    runner = SimSiamRunner.from_cfg(cfg)  # mmengine's Runner, short start-up dumps on the console
    CheckedPretrainedInit.checks.clear()  # filled when the Runner initialises the weights (runner.train)
    last = LastMetricsHook()
    runner.register_hook(last)
    for hook in extra_hooks or []:
        runner.register_hook(hook)
    runner.train()
    metrics = last.metrics if last.metrics else runner.test()
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    path_of = {id(model.get_submodule(t)): t for t in targets}
    loaded = [dict(module=path_of.get(id(m), type(m).__name__), loaded=len(c.matched), module_tensors=c.expected,
                   not_in_checkpoint=len(c.missing)) for _, m, c in CheckedPretrainedInit.checks]
    CheckedPretrainedInit.checks.clear()
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
