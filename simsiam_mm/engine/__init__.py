from .ddp import CPUDistributedDataParallel
from .hooks import CollapseMonitorHook
from .nan_guard import NonFiniteLossHook
from .optim_constructor import SimSiamOptimWrapperConstructor
from .optim_wrapper import AutocastOptimWrapper
from .pretrained import CheckedPretrainedInit
from .resumable_checkpoint_hook import ResumableCheckpointHook
from .sync_bn import CPUSyncBatchNorm, convert_to_cpu_sync_bn

__all__ = ['AutocastOptimWrapper', 'CheckedPretrainedInit', 'CollapseMonitorHook', 'CPUDistributedDataParallel',
           'CPUSyncBatchNorm', 'NonFiniteLossHook', 'ResumableCheckpointHook', 'SimSiamOptimWrapperConstructor',
           'convert_to_cpu_sync_bn']
