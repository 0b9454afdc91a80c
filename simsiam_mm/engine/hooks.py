"""Hooks for SimSiam training: the collapse monitor, and a stop at the first non-finite loss (before a checkpoint
with NaN weights can be written)."""
import math
import time

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper

from simsiam_mm.errors import NonFiniteLossError, TrainingStoppedError
from simsiam_mm.registry import HOOKS


@HOOKS.register_module()
class CollapseMonitorHook(Hook):
    """Log the collapse diagnostic and warn (or stop) when the representation collapses.

    :meth:`SimSiam.loss` reports ``z_std``, the mean per-channel std of z/||z|| (paper Fig. 2, middle), and
    ``z_std_x_sqrt_d`` = z_std·√d, which stays near 1 while training is healthy and falls to 0 on collapse; mmengine
    logs both (text log and every visualization backend) like any other output. This hook watches the second.

    Args:
        threshold: z_std·√d below this counts as collapsed.
        patience: consecutive collapsed iterations before acting.
        stop_on_collapse: raise instead of warning once collapse has lasted ``patience`` iterations.
    """

    priority = 'ABOVE_NORMAL'  # before LoggerHook (BELOW_NORMAL) so the scalar is logged at the same iteration

    def __init__(self, threshold: float = 0.1, patience: int = 20, stop_on_collapse: bool = False) -> None:
        self.threshold = threshold
        self.patience = patience
        self.stop_on_collapse = stop_on_collapse
        self._collapsed_iters = 0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: dict | None = None) -> None:
        if not outputs or 'z_std_x_sqrt_d' not in outputs:
            return
        score = float(outputs['z_std_x_sqrt_d'])
        self._collapsed_iters = self._collapsed_iters + 1 if score < self.threshold else 0
        if self._collapsed_iters == self.patience:
            msg = (f'custom_hooks CollapseMonitorHook: z_std*sqrt(d) = {score:.4f} < {self.threshold} for '
                   f'{self.patience} iterations (iter {runner.iter + 1}): the representation has collapsed to a '
                   'constant — check that stop-gradient and the predictor are on, and the learning rate.')
            if self.stop_on_collapse:
                raise TrainingStoppedError(msg)
            print_log(msg, logger='current', level=30)


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` when the training loss is NaN or ±Inf.

    The optimizer step of that iteration has already run, so the weights in memory may hold NaN; this hook runs at
    ``VERY_HIGH`` priority, before ``CheckpointHook`` (``VERY_LOW``) can save them, and every rank stops together
    (the flag is all-reduced). The message names the iteration, the last checkpoint written (all finite, since every
    earlier loss was) and what usually causes it: the learning rate, AMP's float16 range, a missing warm-up.

    Args:
        keys: the entries of the model's loss dict to check (``loss`` is the total).
    """

    priority = 'VERY_HIGH'

    def __init__(self, keys: tuple[str, ...] = ('loss', )) -> None:
        self.keys = tuple(keys)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: dict | None = None) -> None:
        values = {k: float(outputs[k].detach()) for k in self.keys if outputs and k in outputs}
        bad = any(not math.isfinite(v) for v in values.values())
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            flag = torch.tensor([float(bad)])
            dist.all_reduce(flag)
            bad = flag.item() > 0
        if not bad:
            return
        last = runner.message_hub.get_info('last_ckpt')
        lrs = {name: [round(lr, 6) for lr in group] for name, group in runner.optim_wrapper.get_lr().items()}
        amp = isinstance(runner.optim_wrapper, AmpOptimWrapper)
        raise NonFiniteLossError(
            f'Non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): '
            + ', '.join(f'{k}={v}' for k, v in values.items())
            + ' (on this or another rank). Training stopped before saving these weights. '
            + (f'Last good checkpoint: {last} (resume with `--resume {last}` after the fix). ' if last else
               'No checkpoint was written yet. ')
            + f'Current lr: {lrs}. Try a lower lr (optim_wrapper.optimizer.lr) or a warm-up, '
            + ('turn off AMP (--amp) or use bfloat16: float16 overflows; ' if amp else '')
            + 'gradient clipping (optim_wrapper.clip_grad=dict(max_norm=...)), and check the input data.')


@HOOKS.register_module()
class IterationRecorder(Hook):
    """Keep every iteration's loss, collapse score and time, for the analysis tools' per-iteration series.

    ``rows[i]`` holds ``iter`` (1-based), ``loss``, ``z_std_x_sqrt_d``, ``sec`` (this iteration: from
    ``before_train_iter`` to this hook's ``after_train_iter``, so it counts the hooks that run before it) and
    ``train_seconds`` (the sum of ``sec`` so far). A hook of lower priority (e.g. a kNN evaluation registered at
    ``LOWEST``) is outside the timed span, so ``train_seconds`` is training time without those pauses.

    Examples:
        >>> recorder = IterationRecorder()
        >>> # runner.register_hook(recorder); runner.train(); recorder.rows[-1]['train_seconds']
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.train_seconds = 0.0
        self._start = 0.0

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: dict | None = None) -> None:
        sec = time.perf_counter() - self._start
        self.train_seconds += sec
        self.rows.append(dict(iter=runner.iter + 1, loss=float(outputs['loss'].detach()),
                              z_std_x_sqrt_d=float(outputs['z_std_x_sqrt_d']), sec=sec,
                              train_seconds=self.train_seconds))
