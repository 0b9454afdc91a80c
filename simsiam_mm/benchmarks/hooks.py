"""Hooks the downstream runner registers: keep the final metrics."""
from mmengine.hooks import Hook

from simsiam_mm.registry import HOOKS


@HOOKS.register_module()
class LastMetricsHook(Hook):
    """Keep the metrics of the last validation (or test) epoch, which the runner prints and saves."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.metrics: dict | None = None

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        if metrics:
            self.metrics = dict(metrics)

    def after_test_epoch(self, runner, metrics: dict | None = None) -> None:
        self.after_val_epoch(runner, metrics)
