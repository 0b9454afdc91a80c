from .hooks import CollapseMonitorHook, NonFiniteLossHook
from .optim import AutocastOptimWrapper, SimSiamOptimWrapperConstructor
from .pretrained import CheckedPretrainedInit
from .resume import ResumableCheckpointHook
from .runner import CPUDistributedDataParallel, EarlyLoggerHook, SimSiamRunner

__all__ = ['AutocastOptimWrapper', 'CheckedPretrainedInit', 'CollapseMonitorHook', 'CPUDistributedDataParallel',
           'EarlyLoggerHook', 'NonFiniteLossHook', 'ResumableCheckpointHook', 'SimSiamOptimWrapperConstructor',
           'SimSiamRunner']
