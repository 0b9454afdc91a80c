"""A ``DefaultSampler`` that can start an epoch part-way through, for exact resume after a mid-epoch checkpoint."""
from collections.abc import Iterator

from mmengine.dataset import DefaultSampler

from simsiam_mm.engine.rng import set_rng_state
from simsiam_mm.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class ResumableSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (same order: a permutation seeded by ``seed + epoch``, then every
    ``world_size``-th index for this rank) plus a one-shot :meth:`resume`.

    mmengine's ``EpochBasedTrainLoop`` resumed from a checkpoint saved mid-epoch (``by_epoch=False``) would replay
    the whole epoch; :class:`ResumableCheckpointHook` instead calls ``resume(skip, rng_state)`` so the next epoch
    iteration drops the ``skip`` samples this rank already trained on and, right before the first sample is loaded,
    puts the random generators back where the interrupted run saved them. The epoch then ends at the same iteration
    as it would have without the interruption.

    Examples:
        >>> sampler = ResumableSampler(list(range(10)), seed=0)
        >>> full = list(sampler)
        >>> sampler.resume(skip=4)
        >>> list(sampler) == full[4:] and list(sampler) == full
        True
    """

    def __init__(self, dataset, shuffle: bool = True, seed: int | None = None, round_up: bool = True) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed, round_up=round_up)
        self._skip = 0
        self._rng_state: dict | None = None

    def resume(self, skip: int, rng_state: dict | None = None) -> None:
        """Make the next iteration start at position ``skip`` of this epoch's order and restore ``rng_state``."""
        if not 0 <= skip <= self.num_samples:
            raise ValueError(f'ResumableSampler.resume: skip={skip} outside [0, {self.num_samples}]')
        self._skip, self._rng_state = skip, rng_state

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        skip, rng_state = self._skip, self._rng_state
        self._skip, self._rng_state = 0, None  # one-shot: later epochs start at 0
        return self._generate(indices[skip:], rng_state)

    @staticmethod
    def _generate(indices: list[int], rng_state: dict | None) -> Iterator[int]:
        # runs at the first next(), i.e. after DataLoader.__iter__ drew its base seed and right before the first
        # sample of the resumed epoch is loaded: the point where the interrupted run saved its generator states
        if rng_state is not None:
            set_rng_state(rng_state)
        yield from indices
