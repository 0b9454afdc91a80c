"""Start-up helpers shared by the train and test tools."""
import argparse
import logging
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log

from simsiam_mm.engine.config_check import merge_options


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
