"""DistributedDataParallel that also runs on CPU processes (gloo)."""
import logging

from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from torch import nn


# Registered in mmengine's root registry: ``Runner.wrap_model`` looks the wrapper type up there by plain name
# (``MODEL_WRAPPERS.get``, no scope switching), which cannot reach a registry two levels down such as ours.
@MMENGINE_MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for a model on the CPU: SyncBN (CUDA-only in torch) becomes plain BN, with a
    logged note, and ``device_ids`` (which the Runner sets to the local rank) is dropped, as torch requires for CPU
    modules. ``tools/train.py`` selects it when CUDA is absent."""

    def __init__(self, module: nn.Module, device_ids=None, broadcast_buffers: bool = False, **kwargs) -> None:
        if any(isinstance(m, nn.SyncBatchNorm) for m in module.modules()):
            print_log('CPUDistributedDataParallel: SyncBN needs CUDA; converted every SyncBN to BN, so each process '
                      'normalises over its own batch.', logger='current', level=logging.WARNING)
            module = revert_sync_batchnorm(module)
        super().__init__(module=module, device_ids=None, broadcast_buffers=broadcast_buffers, **kwargs)
