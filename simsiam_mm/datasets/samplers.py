"""A ``DefaultSampler`` that can start an epoch part-way through, and that gives every sample its own augmentation seed.

Both serve exact resume: a killed run continues with the same samples *and* the same random augmentations. The
per-sample seed makes the augmentation of a sample a function of (sampler seed, epoch, index) alone, so it does not
depend on which dataloader worker (persistent or not) loads it, how many workers or processes there are, or where in
the epoch the run was resumed; worker generator states, which no checkpoint can hold, stop mattering.
"""
import random
from collections.abc import Iterator

import numpy as np
import torch
from mmengine.dataset import DefaultSampler

from simsiam_mm.engine.rng import set_rng_state
from simsiam_mm.errors import DataError
from simsiam_mm.registry import DATA_SAMPLERS


class SeededIndex(int):
    """A dataset index (an ``int`` for every consumer) carrying ``aug_seed``, the seed of this sample's augmentation.

    mmengine's ``BaseDataset`` stores the index as ``results['sample_idx']``, where :func:`seed_sample_rngs` (called
    by ``SafeLoadImageFromFile``, the first transform) finds it inside the dataloader worker.
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


def seed_sample_rngs(results: dict) -> None:
    """Seed python's, numpy's and torch's generators from the sample's :class:`SeededIndex`, if it has one."""
    aug_seed = getattr(results.get('sample_idx'), 'aug_seed', None)
    if aug_seed is not None:
        random.seed(aug_seed)
        np.random.seed(aug_seed)
        torch.manual_seed(aug_seed)


@DATA_SAMPLERS.register_module()
class ResumableSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (same order: a permutation seeded by ``seed + epoch``, then every
    ``world_size``-th index for this rank) plus a one-shot :meth:`resume`.

    mmengine's ``EpochBasedTrainLoop`` resumed from a checkpoint saved mid-epoch (``by_epoch=False``) would replay
    the whole epoch; :class:`ResumableCheckpointHook` instead calls ``resume(skip, rng_state)`` so the next epoch
    iteration drops the ``skip`` samples this rank already trained on and, right before the first sample is loaded,
    puts the random generators back where the interrupted run saved them. The epoch then ends at the same iteration
    as it would have without the interruption.

    With ``seed_per_sample`` (default) each index is a :class:`SeededIndex` whose ``aug_seed`` depends on (seed,
    epoch, index) only; ``SafeLoadImageFromFile`` seeds the generators from it before the augmentations run.

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
        self._rng_state: dict | None = None

    def resume(self, skip: int, rng_state: dict | None = None) -> None:
        """Make the next iteration start at position ``skip`` of this epoch's order and restore ``rng_state``."""
        if not 0 <= skip <= self.num_samples:
            raise DataError(f'ResumableSampler.resume: skip={skip} outside [0, {self.num_samples}]: the dataset '
                            'changed since the checkpoint — resume with the same data, or start a new run.')
        self._skip, self._rng_state = skip, rng_state

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        skip, rng_state = self._skip, self._rng_state
        self._skip, self._rng_state = 0, None  # one-shot: later epochs start at 0
        return self._generate(indices[skip:], rng_state, self.seed if self.seed_per_sample else None, self.epoch)

    @staticmethod
    def _generate(indices: list[int], rng_state: dict | None, seed: int | None, epoch: int) -> Iterator[int]:
        # runs at the first next(), i.e. after DataLoader.__iter__ drew its base seed and right before the first
        # sample of the resumed epoch is loaded: the point where the interrupted run saved its generator states
        if rng_state is not None:
            set_rng_state(rng_state)
        for index in indices:
            yield index if seed is None else SeededIndex(index, sample_seed(seed, epoch, index))
