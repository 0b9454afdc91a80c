from .ddp import CPUDistributedDataParallel
from .hooks import CollapseMonitorHook
from .nan_guard import NonFiniteLossHook
from .optim_constructor import SimSiamOptimWrapperConstructor
from .optim_wrapper import AutocastOptimWrapper
from .pretrained import CheckedPretrainedInit
from .readable_log import EarlyLoggerHook, SimSiamRunner
from .resumable_checkpoint_hook import ResumableCheckpointHook

__all__ = ['AutocastOptimWrapper', 'CheckedPretrainedInit', 'CollapseMonitorHook', 'CPUDistributedDataParallel',
           'EarlyLoggerHook', 'NonFiniteLossHook', 'ResumableCheckpointHook', 'SimSiamOptimWrapperConstructor',
           'SimSiamRunner']
