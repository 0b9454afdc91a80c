from .hooks import CollapseMonitorHook, IterationRecorder, NonFiniteLossHook
from .loops import AlternationLoop
from .optim import AutocastOptimWrapper, SimSiamOptimWrapperConstructor
from .pretrained import CheckedPretrainedInit
from .resume import ResumableCheckpointHook
from .runner import CPUDistributedDataParallel, EarlyLoggerHook, SimSiamRunner

__all__ = ['AlternationLoop', 'AutocastOptimWrapper', 'CheckedPretrainedInit', 'CollapseMonitorHook',
           'CPUDistributedDataParallel', 'EarlyLoggerHook', 'IterationRecorder', 'NonFiniteLossHook',
           'ResumableCheckpointHook',
           'SimSiamOptimWrapperConstructor', 'SimSiamRunner']
