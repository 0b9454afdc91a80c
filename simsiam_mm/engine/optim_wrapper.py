"""bfloat16 autocast with float32 master weights, on any device (CPU included).

mmengine's ``AmpOptimWrapper`` asserts that CUDA (or NPU/MLU/MUSA) is present, so it cannot run on a CPU even with
``dtype='bfloat16'``. bfloat16 has float32's exponent range, so it needs no loss scaling: autocast alone is the whole
mixed-precision recipe. Parameters, gradients and the optimizer state stay float32 ("master weights"); autocast
casts weights and activations to bfloat16 for the ops it lists (conv, linear, matmul) and keeps reductions, norms'
statistics and the loss where torch deems them precision-sensitive.
"""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from simsiam_mm.errors import ConfigError
from simsiam_mm.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that runs the forward pass (data preprocessor, model, loss) under ``torch.autocast``.

    Args:
        dtype: the autocast dtype, ``'bfloat16'`` (default; no loss scaling needed) or ``'float16'`` (only on GPU,
            where mmengine's ``AmpOptimWrapper`` with its loss scaler is the better choice).
        device_type: ``'cpu'``, ``'cuda'``, ...; ``None`` takes the device of the model's first parameter.
        **kwargs: the arguments of ``OptimWrapper`` (``optimizer``, ``accumulative_counts``, ``clip_grad``).

    Config::

        optim_wrapper = dict(type='AutocastOptimWrapper', dtype='bfloat16',
                             optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))

    Examples:
        >>> model = nn.Linear(4, 2)
        >>> wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
        >>> with wrapper.optim_context(model):
        ...     y = model(torch.randn(3, 4))
        >>> y.dtype, model.weight.dtype  # bf16 compute, fp32 master weights
        (torch.bfloat16, torch.float32)
    """

    def __init__(self, dtype: str = 'bfloat16', device_type: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if dtype not in ('bfloat16', 'float16'):
            raise ConfigError(f"optim_wrapper.dtype must be 'bfloat16' or 'float16', got {dtype!r}")
        self.cast_dtype: torch.dtype = getattr(torch, dtype)
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model: nn.Module):
        device_type = self.device_type or next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(device_type=device_type, dtype=self.cast_dtype):
            yield
