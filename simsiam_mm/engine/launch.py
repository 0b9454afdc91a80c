"""Start-up helpers shared by the train and test tools, and ``torchrun`` with the error boundary's promise.

``torchrun`` with the error boundary's promise: when a rank stops on a known failure, its one line is the last
thing printed (torch's launcher otherwise ends with a ``ChildFailedError`` traceback that buries it).

    python -m simsiam_mm.engine.launch --nproc_per_node=2 tools/train.py CONFIG --launcher pytorch

Every rank's :func:`simsiam_mm.errors.cli_main` leaves its line in the folder named by ``SIMSIAM_MM_ERROR_DIR``;
after the launcher reports the failure, those lines are printed and the exit status is 1. A failure without such a
line (a crash, a bug) keeps torch's full report.
"""
import argparse
import logging
import os
import os.path as osp
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log

from simsiam_mm.engine.config_check import merge_options
from simsiam_mm.errors import ERROR_DIR_ENV


def prepare_distributed(cfg: Config, launcher: str) -> None:
    """Make ``launcher='pytorch'`` work where CUDA is absent: DDP over gloo on CPU processes.

    mmengine's pytorch launcher always calls ``torch.cuda.set_device``; starting the gloo process group here first
    makes the Runner use it as is. The model is wrapped by :class:`CPUDistributedDataParallel` (no ``device_ids``,
    SyncBN converted to BN). Nothing changes on a CUDA machine.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.env_cfg = cfg.get('env_cfg') or {}
    cfg.env_cfg['dist_cfg'] = dict(backend='gloo')
    cfg.model_wrapper_cfg = dict(type='CPUDistributedDataParallel')
    if dist.get_rank() == 0:
        print_log(f'No CUDA: distributed training over gloo on {dist.get_world_size()} CPU processes '
                  f'(LOCAL_RANK={os.environ.get("LOCAL_RANK")}).', logger='current', level=logging.INFO)


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply ``tools/train.py``'s command-line options (``args``, as its parser gives them) to ``cfg``.

    ``--amp``: mmengine's ``AmpOptimWrapper`` where CUDA is available; without CUDA bf16 autocast
    (``AutocastOptimWrapper``, float32 master weights), which mmengine's CUDA-only wrapper cannot do.
    """
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        if torch.cuda.is_available():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        else:  # mmengine's AmpOptimWrapper needs CUDA; bf16 autocast (fp32 master weights) runs on CPUs
            cfg.optim_wrapper.type = 'AutocastOptimWrapper'
            cfg.optim_wrapper.setdefault('dtype', 'bfloat16')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if not loader:
            continue
        if args.no_pin_memory:
            loader['pin_memory'] = False
        if args.no_persistent_workers:
            loader['persistent_workers'] = False
    if args.cfg_options is not None:
        merge_options(cfg, args.cfg_options)
    return cfg


def torchrun(argv: list[str] | None = None) -> int:
    """Run ``torch.distributed.run`` with ``argv``; return its exit status."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run
    with tempfile.TemporaryDirectory(prefix='simsiam_mm_errors_') as error_dir:
        os.environ[ERROR_DIR_ENV] = error_dir
        try:
            run(parse_args(argv))
        except ChildFailedError:
            lines = [p.read_text().strip() for p in sorted(Path(error_dir).glob('rank*.txt'))]
            if not lines:
                raise
            print('\n'.join(lines), file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(torchrun())
