"""Start-up helpers shared by the train and test tools."""
import logging
import os

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log


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
