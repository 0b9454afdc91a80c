"""Hooks the downstream runner registers: check the pretrained initialisation, keep the final metrics."""
import logging
from collections import OrderedDict

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import Tensor

from simsiam_mm.errors import CheckpointError
from simsiam_mm.registry import HOOKS

from .pretrained import LoadReport, compare_with_checkpoint


@HOOKS.register_module()
class PretrainedLoadCheckHook(Hook):
    """Before the first iteration, check that each module initialised from the checkpoint holds its tensors.

    Runs after the Runner's weight initialisation and before any update, logs one line per module (``backbone:
    318/318 tensors equal the checkpoint's``) and raises ``RuntimeError`` when a module took no tensor at all or a
    tensor with a checkpoint counterpart differs from it (wrong prefix, shape mismatch): the silent ways a
    ``strict=False`` load leaves a benchmark training from scratch. Skipped on resume (the weights were trained).

    Args:
        state: the checkpoint's backbone tensors, prefix stripped (:func:`load_backbone_state`).
        targets: dotted paths of the modules initialised from it (:func:`set_pretrained`).
        checkpoint: the file name, for the messages.
    """

    priority = 'VERY_HIGH'

    def __init__(self, state: 'OrderedDict[str, Tensor]', targets: list[str], checkpoint: str = '') -> None:
        self.state = state
        self.targets = targets
        self.checkpoint = checkpoint
        self.reports: list[LoadReport] = []

    def before_train(self, runner) -> None:
        if runner._resume:
            print_log('PretrainedLoadCheckHook: resumed run, initialisation check skipped', logger='current')
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.reports = compare_with_checkpoint(model, self.state, self.targets)
        for report in self.reports:
            print_log(f'Pretrained {self.checkpoint}: {report.summary()}', logger='current', level=logging.INFO)
        bad = [r for r in self.reports if r.loaded == 0 or r.differ]
        if bad:
            raise CheckpointError(f'{self.checkpoint} did not initialise the model: ' +
                               '; '.join(r.summary() for r in bad))
        self.state = OrderedDict()  # free the copy once checked


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
