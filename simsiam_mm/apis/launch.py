"""The launcher's side of every tool: the command-line flags ``tools/train.py``, ``tools/test.py`` and
``tools/benchmarks/train_downstream.py`` share (:func:`add_launch_args`, :func:`merge_launch_args`), gloo DDP where
CUDA is absent (:func:`prepare_distributed`), and ``torchrun`` with the error boundary's promise (:func:`torchrun`).

``torchrun`` with the error boundary's promise: when a rank stops on a known failure, its one line is the last
thing printed (torch's launcher otherwise ends with a ``ChildFailedError`` traceback that buries it).

    python -m simsiam_mm.apis.launch --nproc_per_node=2 tools/train.py CONFIG --launcher pytorch

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
from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from simsiam_mm.apis.config import merge_options
from simsiam_mm.errors import ERROR_DIR_ENV, add_debug_flag

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def add_launch_args(parser: argparse.ArgumentParser, work_dir_help: str = 'the folder for logs and checkpoints '
                    '(default: work_dirs/<config name>)', amp: bool = True) -> argparse.ArgumentParser:
    """Add the flags every launching tool shares: ``--work-dir``, ``--amp`` (with ``amp``), ``--cfg-options``,
    ``--launcher``, ``--local-rank`` and ``--debug``. Parse with :func:`parse_launch_args`."""
    parser.add_argument('--work-dir', help=work_dir_help)
    if amp:
        parser.add_argument('--amp', action='store_true', help='automatic mixed precision (bf16 autocast on CPUs)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings (applied last), key=value pairs, e.g. train_cfg.max_epochs=2')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return add_debug_flag(parser)


def parse_launch_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, then ``LOCAL_RANK`` from ``--local-rank`` for launchers that pass it so."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_launch_args(cfg: Config, args: argparse.Namespace, default_work_dir: str | None = None) -> Config:
    """Apply the shared flags (:func:`add_launch_args`) except ``--cfg-options`` (each tool applies it last, with
    :func:`merge_options`): the launcher, the work dir (``--work-dir``, else the config's, else
    ``default_work_dir``, else ``work_dirs/<config name>``) and ``--amp``.

    ``--amp``: mmengine's ``AmpOptimWrapper`` where CUDA is available; without CUDA bf16 autocast
    (``AutocastOptimWrapper``, float32 master weights), which mmengine's CUDA-only wrapper cannot do.
    """
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        config = getattr(args, 'config', None) or cfg.filename
        cfg.work_dir = default_work_dir or osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    if getattr(args, 'amp', False):
        if torch.cuda.is_available():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        else:  # mmengine's AmpOptimWrapper needs CUDA; bf16 autocast (fp32 master weights) runs on CPUs
            cfg.optim_wrapper.type = 'AutocastOptimWrapper'
            cfg.optim_wrapper.setdefault('dtype', 'bfloat16')
    return cfg


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
    """Apply ``tools/train.py``'s command line (``args``, as its parser gives them) to ``cfg``: the shared flags
    (:func:`merge_launch_args`), its own, then ``--cfg-options``."""
    merge_launch_args(cfg, args)
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
    return merge_options(cfg, args.cfg_options)


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
