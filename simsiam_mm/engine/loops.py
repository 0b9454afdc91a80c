"""The training loop of the paper's multi-step alternation (Sec. 5.2): targets for the next k steps, then k steps.

Sec. 5.2: "In each alternation, we pre-compute the η_x required for all k SGD steps using a single forward pass,
and cache them in memory." :class:`AlternationLoop` is mmengine's ``IterBasedTrainLoop`` whose batches come k at a
time: it draws the next k batches, preprocesses each once (a random on-device augmentation is drawn once, so a
view and its target belong together), asks the model (:class:`~simsiam_mm.models.AlternatingSimSiam`) for their
targets with the current weights, then serves them one step at a time. Everything else (hooks, logging,
checkpoints, validation) is the parent loop's.
"""
from collections import deque

from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop

from simsiam_mm.errors import ConfigError
from simsiam_mm.registry import LOOPS


class _AlternationIterator:
    """Wraps the loop's infinite batch iterator: refills a queue of k (preprocessed batch + targets) at a time."""

    def __init__(self, loop: 'AlternationLoop', batches) -> None:
        self.loop, self.batches, self.queue = loop, batches, deque()

    def __next__(self) -> dict:
        if not self.queue:
            self.queue.extend(self.loop.precompute(next(self.batches)
                                                   for _ in range(self.loop.steps_now())))
        return self.queue.popleft()


@LOOPS.register_module()
class AlternationLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` with η cached for k steps at a time (paper Sec. 5.2 multi-step alternation).

    Args:
        steps: k, the SGD steps per alternation (1: SimSiam; 10, 100; ``'epoch'``: the iterations of one epoch,
            the paper's "1-epoch").
        max_iters: length of training; or ``max_epochs``, converted with the loader's length (the recipe's
            by-epoch schedulers then need ``convert_to_iter_based=True``: tools/analysis/ablations.py sets it).
        **kwargs: ``IterBasedTrainLoop``'s (``val_interval``, ...).

    With k = 1 a run equals SimSiam's under ``IterBasedTrainLoop`` (same weights, same batches). A recipe with an
    ``EpochBasedTrainLoop`` draws its random streams in another order (the data loader's iterator is made at another
    point of start-up), so there the k = 1 run starts from other weights and batches: compare k-step runs with the
    k = 1 run of this loop (docs/ablations.md, ``cpu-short``).

    Memory: k preprocessed batches and their targets (see :class:`~simsiam_mm.models.AlternatingSimSiam`). A run
    resumed in the middle of an alternation recomputes the rest of its targets with the resumed weights.
    """

    def __init__(self, runner, dataloader, max_iters: int | None = None, steps: int | str = 1,
                 max_epochs: int | None = None, **kwargs) -> None:
        if (max_iters is None) == (max_epochs is None):
            raise ConfigError('train_cfg: AlternationLoop needs max_iters or max_epochs (one of them)')
        super().__init__(runner, dataloader, max_iters or 1, **kwargs)
        if max_epochs is not None:  # an epoch-based recipe: the same length in iterations
            self._max_iters = max_epochs * len(self.dataloader)
        if steps == 'epoch':
            steps = len(self.dataloader)
        if not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"train_cfg.steps={steps!r}: the steps per alternation must be an int >= 1 or 'epoch'")
        self.steps = steps
        self.dataloader_iterator = _AlternationIterator(self, self.dataloader_iterator)

    def steps_now(self) -> int:
        """k, or fewer at the end of training (no targets are computed for steps that will not run)."""
        return max(1, min(self.steps, self._max_iters - self._iter))

    def precompute(self, batches) -> list[dict]:
        model = self.runner.model.module if is_model_wrapper(self.runner.model) else self.runner.model
        if not hasattr(model, 'compute_targets'):
            raise ConfigError(f"train_cfg.type='AlternationLoop' needs a model with cached targets "
                              f"(type='AlternatingSimSiam'), got {type(model).__name__}")
        if is_model_wrapper(self.runner.model):
            raise ConfigError("train_cfg.type='AlternationLoop' runs in one process (it preprocesses the batches "
                              'itself); train it without a launcher')
        model.train()
        out = []
        for batch in batches:
            with self.runner.optim_wrapper.optim_context(model):  # as BaseModel.train_step (e.g. bf16 autocast)
                data = model.data_preprocessor(batch, True)  # once: the views the targets and the step share
                data['targets'] = model.compute_targets(data['inputs'])  # η = F_θt(x_v), 2xNxd, no grad
            out.append(data)
        return out
