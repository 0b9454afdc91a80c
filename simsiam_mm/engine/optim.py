"""Optimisation for SimSiam: the predictor's fixed learning rate, and bfloat16 autocast on any device.

The predictor's fixed learning rate, in one place.

Paper, Sec. 4: "a fixed lr for the predictor h [...] works better"; the official ``main_simsiam.py`` sets the
predictor's group to ``init_lr = lr * batch_size / 256`` at every step while the rest follows the cosine schedule.

:class:`AutocastOptimWrapper`: bfloat16 autocast with float32 master weights, on any device (CPU included).

mmengine's ``AmpOptimWrapper`` asserts that CUDA (or NPU/MLU/MUSA) is present, so it cannot run on a CPU even with
``dtype='bfloat16'``. bfloat16 has float32's exponent range, so it needs no loss scaling: autocast alone is the whole
mixed-precision recipe. Parameters, gradients and the optimizer state stay float32 ("master weights"); autocast
casts weights and activations to bfloat16 for the ops it lists (conv, linear, matmul) and keeps reductions, norms'
statistics and the loss where torch deems them precision-sensitive.
"""
from contextlib import contextmanager

import torch
from mmengine.logging import MessageHub
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from torch import nn

from simsiam_mm.errors import ConfigError
from simsiam_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS


def _hold_fixed_lr(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
    """Optimizer step pre-hook: put every ``fixed_lr`` group back at its initial (already scaled) lr.

    ``initial_lr`` is what mmengine's param schedulers record when they are built, which is after
    ``Runner.scale_lr`` has applied ``auto_scale_lr``; without a scheduler the lr never moved, so it is the lr itself.
    The value used is logged as ``predictor_lr``.
    """
    for group in optimizer.param_groups:
        if group.get('fixed_lr'):
            group['lr'] = group.setdefault('initial_lr', group['lr'])
            MessageHub.get_current_instance().update_scalar('train/predictor_lr', group['lr'])


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SimSiamOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Build the optimizer as usual, then move the parameters of ``fixed_lr_module`` into a group whose lr stays at
    the base lr, scaled by ``auto_scale_lr`` like every other group but never decayed by the schedulers.

    Config::

        optim_wrapper = dict(
            optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4),  # 0.05 x 256/256
            constructor='SimSiamOptimWrapperConstructor')

    Set ``paramwise_cfg=dict(fixed_lr_module=None)`` to let the predictor follow the schedule (paper Table 1 variant).
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        self.fixed_lr_module: str | None = paramwise_cfg.pop('fixed_lr_module', 'head.predictor')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def __call__(self, model: nn.Module) -> OptimWrapper:
        optim_wrapper = super().__call__(model)
        if self.fixed_lr_module is None:
            return optim_wrapper
        module = model.module if is_model_wrapper(model) else model
        try:
            fixed = list(module.get_submodule(self.fixed_lr_module).parameters())
        except AttributeError as e:
            raise ConfigError(f'optim_wrapper.paramwise_cfg.fixed_lr_module={self.fixed_lr_module!r}: the model '
                              f'{type(module).__name__} has no such submodule — name one of its modules (e.g. '
                              "'head.predictor') or None.") from e
        if not fixed:  # e.g. predictor=None (paper Table 1 ablation): nothing to hold
            return optim_wrapper
        optimizer = optim_wrapper.optimizer
        fixed_ids = {id(p) for p in fixed}
        for group in optimizer.param_groups:  # no state exists yet, so regrouping is safe
            group['params'] = [p for p in group['params'] if id(p) not in fixed_ids]
        optimizer.param_groups = [g for g in optimizer.param_groups if g['params']]
        optimizer.add_param_group(dict(params=fixed, lr=self.base_lr, fixed_lr=True))
        optimizer.register_step_pre_hook(_hold_fixed_lr)
        return optim_wrapper


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that runs the forward pass (data preprocessor, model, loss) under ``torch.autocast``.

    Args:
        dtype: the autocast dtype, ``'bfloat16'`` (default; no loss scaling needed) or ``'float16'`` (only on GPU,
            where mmengine's ``AmpOptimWrapper`` with its loss scaler is the better choice); ``'float32'`` turns
            autocast off, so that a config that has the wrapper can be run in float32 from the command line
            (``--cfg-options optim_wrapper.dtype=float32``), e.g. on a CPU without fast bfloat16.
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
        if dtype not in ('bfloat16', 'float16', 'float32'):
            raise ConfigError(f"optim_wrapper.dtype must be 'bfloat16', 'float16' or 'float32' (autocast off), "
                              f'got {dtype!r}')
        self.cast_dtype: torch.dtype = getattr(torch, dtype)
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model: nn.Module):
        device_type = self.device_type or next(model.parameters()).device.type
        enabled = self.cast_dtype != torch.float32
        with super().optim_context(model), torch.autocast(device_type=device_type, dtype=self.cast_dtype,
                                                          enabled=enabled):
            yield
