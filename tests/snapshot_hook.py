"""A hook the downstream smoke tests load into ``tools/benchmarks/train_downstream.py`` (run as a subprocess) through
``--cfg-options custom_imports=... custom_hooks=...``, with ``tests/`` on ``PYTHONPATH``."""
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SnapshotHook(Hook):
    """Saves the initialised modules ``targets`` to ``out`` right before the first iteration (after init_weights)."""

    priority = 'VERY_LOW'

    def __init__(self, targets: list[str], out: str) -> None:
        self.targets, self.out = targets, out

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save({path: {k: v.detach().clone() for k, v in model.get_submodule(path).state_dict().items()}
                    for path in self.targets}, self.out)
