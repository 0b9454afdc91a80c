"""Exact resume, by one mechanism: a sampler that can start an epoch part-way through, and a seed per sample.

A killed run continues with the same samples *and* the same random augmentations. :class:`ResumableSampler` hands
out each index as a :class:`SeededIndex` carrying a seed that is a function of (sampler seed, epoch, index) alone;
:class:`SeedSampleRNG`, the first step of the training pipeline, seeds python's, numpy's and torch's generators from
it before any augmentation draws. The augmentation of a sample therefore does not depend on which dataloader worker
(persistent or not) loads it, how many workers or processes there are, or where in the epoch the run was resumed, and
no generator state needs to be saved or restored.
"""
import itertools
import random
from collections.abc import Iterator

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.dataset import DefaultSampler

from simsiam_mm.errors import DataError
from simsiam_mm.registry import DATA_SAMPLERS, TRANSFORMS


class SeededIndex(int):
    """A dataset index (an ``int`` for every consumer) carrying ``aug_seed``, the seed of this sample's augmentation.

    mmengine's ``BaseDataset`` stores the index as ``results['sample_idx']``, where :class:`SeedSampleRNG` (the first
    transform) finds it inside the dataloader worker.
    """

    aug_seed: int

    def __new__(cls, index: int, aug_seed: int) -> 'SeededIndex':
        obj = super().__new__(cls, index)
        obj.aug_seed = aug_seed
        return obj

    def __reduce__(self):  # travels to dataloader workers through a pickling queue
        return SeededIndex, (int(self), self.aug_seed)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed 32-bit seed for (sampler seed, epoch, index)."""
    return int(np.random.SeedSequence([seed % 2**32, epoch, index]).generate_state(1)[0])


def seed_sample_rngs(results: dict) -> bool:
    """Seed python's, numpy's and torch's generators from the sample's :class:`SeededIndex`; ``False`` if it has
    none (an index from another sampler)."""
    aug_seed = getattr(results.get('sample_idx'), 'aug_seed', None)
    if aug_seed is None:
        return False
    random.seed(aug_seed)
    np.random.seed(aug_seed)
    torch.manual_seed(aug_seed)
    return True


@TRANSFORMS.register_module()
class SeedSampleRNG(BaseTransform):
    """The first step of a training pipeline: seed the generators from the sample's own seed (see the module doc).

    Any loader and augmentations may follow (``SafeLoadImageFromFile``, mmcv's ``LoadImageFromFile``, ...). Without a
    :class:`ResumableSampler` the results pass through unchanged.

    Examples:
        >>> step = SeedSampleRNG()
        >>> _ = step(dict(sample_idx=SeededIndex(3, aug_seed=7))); a = torch.rand(1)
        >>> _ = step(dict(sample_idx=SeededIndex(3, aug_seed=7))); torch.equal(a, torch.rand(1))
        True
    """

    def transform(self, results: dict) -> dict:
        seed_sample_rngs(results)
        return results


@DATA_SAMPLERS.register_module()
class ResumableSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (same order: a permutation seeded by ``seed + epoch``, then every
    ``world_size``-th index for this rank) plus a one-shot :meth:`resume`.

    mmengine's ``EpochBasedTrainLoop`` resumed from a checkpoint saved mid-epoch (``by_epoch=False``) would replay
    the whole epoch; :class:`ResumableCheckpointHook` instead calls ``resume(skip)`` so the next epoch iteration
    drops the ``skip`` samples this rank already trained on. The epoch then ends at the same iteration as it would
    have without the interruption.

    With ``seed_per_sample`` (default) each index is a :class:`SeededIndex` whose ``aug_seed`` depends on (seed,
    epoch, index) only; :class:`SeedSampleRNG` seeds the generators from it before the augmentations run.

    Examples:
        >>> sampler = ResumableSampler(list(range(10)), seed=0)
        >>> full = list(sampler)
        >>> sampler.resume(skip=4)
        >>> list(sampler) == full[4:] and list(sampler) == full
        True
    """

    def __init__(self, dataset, shuffle: bool = True, seed: int | None = None, round_up: bool = True,
                 seed_per_sample: bool = True) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed, round_up=round_up)
        self.seed_per_sample = seed_per_sample
        self._skip = 0

    def resume(self, skip: int) -> None:
        """Make the next iteration start at position ``skip`` of this epoch's order."""
        if not 0 <= skip <= self.num_samples:
            raise DataError(f'ResumableSampler.resume: skip={skip} outside [0, {self.num_samples}]: the dataset '
                            'changed since the checkpoint — resume with the same data, or start a new run.')
        self._skip = skip

    def epoch_order(self, epoch: int) -> list[int]:
        """This rank's indices for ``epoch``: ``DefaultSampler``'s order, computed by ``DefaultSampler`` itself."""
        current, self.epoch = self.epoch, epoch
        try:
            return list(super().__iter__())
        finally:
            self.epoch = current

    def _tagged(self, indices: list[int], epoch: int) -> Iterator[int]:
        if not self.seed_per_sample:
            return iter(indices)
        return (SeededIndex(i, sample_seed(self.seed, epoch, i)) for i in indices)

    def __iter__(self) -> Iterator[int]:
        skip, self._skip = self._skip, 0  # one-shot: later epochs start at 0
        return self._tagged(self.epoch_order(self.epoch)[skip:], self.epoch)


@DATA_SAMPLERS.register_module()
class InfiniteResumableSampler(ResumableSampler):
    """:class:`ResumableSampler`'s epochs one after another without end: the sampler of iteration-based training.

    mmengine's ``IterBasedTrainLoop`` restarts a finite dataloader when it runs out, with a warning to use an infinite
    sampler (and a 2 s pause); this stream does not run out. Its epoch ``e`` is :class:`ResumableSampler`'s epoch
    ``set_epoch() + e``: the same order and, with ``seed_per_sample``, the same per-sample seeds, both functions of
    (seed, epoch) alone. A resumed ``IterBasedTrainLoop`` draws and discards the batches it already trained on, so it
    continues at exactly the sample the interrupted run would have trained on next (the seed is checkpointed by
    :class:`~simsiam_mm.engine.ResumableCheckpointHook`). ``len()`` is one epoch's number of samples, as
    mmengine's ``InfiniteSampler``; ``resume(skip)`` starts the stream ``skip`` samples in (any ``skip >= 0``).

    Examples:
        >>> sampler = InfiniteResumableSampler(list(range(4)), seed=0)
        >>> stream = iter(sampler)
        >>> first = [next(stream) for _ in range(8)]
        >>> first[:4] == sampler.epoch_order(0) and first[4:] == sampler.epoch_order(1)
        True
    """

    def resume(self, skip: int) -> None:
        if skip < 0:
            raise DataError(f'InfiniteResumableSampler.resume: skip={skip} is negative — resume from a checkpoint '
                            'of this run.')
        self._skip = skip

    def __iter__(self) -> Iterator[int]:
        skip, self._skip = self._skip, 0  # one-shot
        first_epoch, skip = divmod(skip, self.num_samples) if self.num_samples else (0, 0)
        return self._stream(self.epoch + first_epoch, skip)

    def _stream(self, first_epoch: int, skip: int) -> Iterator[int]:
        for epoch in itertools.count(first_epoch):
            yield from self._tagged(self.epoch_order(epoch)[skip:], epoch)
            skip = 0
