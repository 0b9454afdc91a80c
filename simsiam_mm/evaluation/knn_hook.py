"""Online kNN monitor: how good the backbone's frozen features are, measured during pretraining."""
import time
from collections.abc import Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch.utils.data import DataLoader, Dataset

from simsiam_mm.evaluation.knn import build_eval_loader, knn_eval
from simsiam_mm.registry import HOOKS


@HOOKS.register_module()
class KNNEvalHook(Hook):
    """Every ``interval`` epochs (or iterations) run weighted kNN (k=20, T=0.07) on a held-out labelled split.

    The SimSiam paper's CIFAR experiments and mmselfsup monitor pretraining this way: the training split's features are
    the memory bank and the val split is classified by :func:`simsiam_mm.evaluation.knn.knn_predict`. Results go to the
    text log, to every visualization backend as ``knn/top1`` and ``knn/top5`` (``scalars.json``, TensorBoard, ...) and
    to ``self.history`` (with ``eval_seconds``, the pause it made). Only the main process evaluates (eval-mode
    forward passes need no collective).

    Args:
        train_dataset: config of the labelled memory-bank split (e.g. ``CustomDataset`` on ``cifar10/train`` with a
            deterministic pipeline: ``LoadImageFromFile`` + ``PackInputs``), or a built dataset.
        val_dataset: config of the labelled split to classify, or a built dataset.
        interval: evaluate every ``interval`` epochs (``by_epoch=True``) or iterations.
        at: instead of ``interval``, evaluate after exactly these iterations (e.g. evenly spread over a budget that
            ``interval`` does not divide).
        by_epoch: count ``interval`` in epochs or iterations.
        num_per_class_train / num_per_class_val: class-balanced random subsets (None keeps all images).
        k, temperature, stage: the kNN protocol and the backbone output it reads (-1: last stage).
        before_train: also evaluate before the first iteration (the random-initialisation baseline).
        batch_size, num_workers, seed: feature-extraction loaders and subset draw.
        progress: report each feature extraction (images, rate, ETA) on stderr.

    Examples:
        >>> cifar = dict(type='CustomDataset', data_root='data/cifar10',
        ...              pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')])
        >>> custom_hooks = [dict(type='KNNEvalHook', interval=10,
        ...                      train_dataset=dict(cifar, data_prefix='train'),
        ...                      val_dataset=dict(cifar, data_prefix='test'))]
    """

    priority = 'LOW'

    def __init__(self,
                 train_dataset: dict | Dataset,
                 val_dataset: dict | Dataset,
                 interval: int = 1,
                 by_epoch: bool = True,
                 at: Sequence[int] | None = None,
                 num_per_class_train: int | None = None,
                 num_per_class_val: int | None = None,
                 k: int = 20,
                 temperature: float = 0.07,
                 stage: int = -1,
                 before_train: bool = False,
                 batch_size: int = 256,
                 num_workers: int = 0,
                 seed: int = 0,
                 progress: bool = True) -> None:
        if interval < 1:
            raise ValueError(f'KNNEvalHook: interval must be >= 1, got {interval}')
        if at is not None and (by_epoch or not at or min(at) < 1):
            raise ValueError(f'KNNEvalHook: at={at!r} needs by_epoch=False and iteration numbers >= 1')
        self.train_dataset, self.val_dataset = train_dataset, val_dataset
        self.interval, self.by_epoch = interval, by_epoch
        self.at = None if at is None else set(at)
        self.progress = progress
        self.num_per_class_train, self.num_per_class_val = num_per_class_train, num_per_class_val
        self.k, self.temperature, self.stage = k, temperature, stage
        self.eval_before_train = before_train
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.history: list[dict] = []
        self._loaders: tuple[DataLoader, DataLoader] | None = None

    def _get_loaders(self) -> tuple[DataLoader, DataLoader]:
        if self._loaders is None:
            kw = dict(batch_size=self.batch_size, num_workers=self.num_workers, seed=self.seed)
            self._loaders = (build_eval_loader(self.train_dataset, self.num_per_class_train, **kw),
                             build_eval_loader(self.val_dataset, self.num_per_class_val, **kw))
        return self._loaders

    def evaluate(self, runner, step: int) -> dict[str, float] | None:
        if not is_main_process():
            return None
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        start = time.perf_counter()
        result = knn_eval(model, *self._get_loaders(), k=self.k, temperature=self.temperature, stage=self.stage,
                          progress=self.progress)  # a long bank pauses training: say how long
        record = dict(iter=step, epoch=runner.epoch, eval_seconds=time.perf_counter() - start, **result)
        self.history.append(record)
        runner.visualizer.add_scalars({f'knn/{key}': v for key, v in result.items()}, step=step)
        print_log(f'KNNEvalHook (k={self.k}, T={self.temperature}) after {step} iterations, epoch {runner.epoch}: '
                  f'top1 {result["top1"]:.2f}  top5 {result["top5"]:.2f}', logger='current')
        return result

    def before_train(self, runner) -> None:
        if self.eval_before_train:
            self.evaluate(runner, step=0)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        due = runner.iter + 1 in self.at if self.at is not None else self.every_n_train_iters(runner, self.interval)
        if not self.by_epoch and due:
            self.evaluate(runner, step=runner.iter + 1)

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch and self.every_n_epochs(runner, self.interval):
            self.evaluate(runner, step=runner.iter)
