from .checkpoint import allow_mmengine_checkpoints
from .ddp import CPUDistributedDataParallel
from .hooks import CollapseMonitorHook
from .optim_constructor import SimSiamOptimWrapperConstructor

__all__ = ['CollapseMonitorHook', 'CPUDistributedDataParallel', 'SimSiamOptimWrapperConstructor',
           'allow_mmengine_checkpoints']
