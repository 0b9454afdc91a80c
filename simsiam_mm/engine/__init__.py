from .checkpoint import allow_mmengine_checkpoints
from .ddp import CPUDistributedDataParallel
from .hooks import CollapseMonitorHook
from .nan_guard import NonFiniteLossHook
from .optim_constructor import SimSiamOptimWrapperConstructor
from .optim_wrapper import AutocastOptimWrapper
from .pretrained import CheckedPretrainedInit, match_state_dict
from .readable_log import EarlyLoggerHook, SimSiamRunner
from .resumable_checkpoint_hook import ResumableCheckpointHook
from .sync_bn import CPUSyncBatchNorm, convert_to_cpu_sync_bn

__all__ = ['AutocastOptimWrapper', 'CheckedPretrainedInit', 'CollapseMonitorHook', 'CPUDistributedDataParallel',
           'CPUSyncBatchNorm', 'EarlyLoggerHook', 'NonFiniteLossHook', 'ResumableCheckpointHook',
           'SimSiamOptimWrapperConstructor', 'SimSiamRunner',
           'allow_mmengine_checkpoints', 'convert_to_cpu_sync_bn', 'match_state_dict']
