"""Hooks for SimSiam training."""
from mmengine.hooks import Hook
from mmengine.logging import print_log

from simsiam_mm.errors import TrainingStoppedError
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
