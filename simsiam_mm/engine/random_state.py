"""What a training run draws at random, and whether a checkpoint can bring it back: the random state behind exact
resume (:class:`~simsiam_mm.engine.ResumableCheckpointHook`).

A run's random numbers come from three kinds of source:

- **per-sample generators** in the data pipeline: python's, numpy's and torch's generators, seeded for each sample
  from (sampler seed, epoch, index) by :class:`~simsiam_mm.datasets.SeedSampleRNG` (the first pipeline step) with
  the seeds handed out by :class:`~simsiam_mm.datasets.ResumableSampler`. Nothing to save but the sampler seed.
- **components' own generators**: a module of the model with a ``generator`` attribute (a ``torch.Generator``),
  such as :class:`~simsiam_mm.models.BatchAugDataPreprocessor`, which makes and colours views batched in the main
  process. Their states are saved in every checkpoint (:func:`gather_generator_states`), one set per process, and
  restored on resume (:func:`restore_generator_states`).
- **the process's global generators**, which no checkpoint saves: anything else that draws (a random pipeline step
  without per-sample seeds, dropout, ...) makes a resumed run differ from an uninterrupted one;
  :func:`unresumable_steps` names such steps so the run can say so before it trains.

Outside these, what the training loop draws from the global generators does not reach the data or the model: the
dataloader draws a base seed for its workers at each epoch (mmengine's ``worker_init_fn`` then seeds the workers from
the run's seed, and :class:`~simsiam_mm.datasets.SeedSampleRNG` reseeds per sample); the SimSiam model (ResNet,
projector, predictor) has no dropout.
"""
from collections.abc import Iterable, Iterator

import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.model import is_model_wrapper
from torch import Tensor, nn

# pipeline steps that draw nothing at random (the rest, by name, are assumed to draw)
DETERMINISTIC_TRANSFORMS = frozenset({
    'SeedSampleRNG', 'LoadImageFromFile', 'SafeLoadImageFromFile', 'FastLoadImageFromFile', 'ResizeEdge', 'Resize',
    'CenterCrop', 'PackInputs', 'PackClsInputs', 'MultiView', 'Compose', 'ToTensor', 'ImageToTensor', 'Normalize'})
ADVICE_PIPELINE = ("put dict(type='SeedSampleRNG') first in the pipeline and use "
                   "train_dataloader.sampler=dict(type='ResumableSampler')")


def _bare(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def model_generators(model: nn.Module) -> dict[str, torch.Generator]:
    """Module name -> its own ``generator`` for every module of ``model`` (wrapper or not) that has one."""
    return {name: module.generator for name, module in _bare(model).named_modules()
            if isinstance(getattr(module, 'generator', None), torch.Generator)}


def generator_states(model: nn.Module) -> dict[str, Tensor]:
    """Module name -> state of its generator (:func:`model_generators`), in this process."""
    return {name: generator.get_state() for name, generator in model_generators(model).items()}


def gather_generator_states(model: nn.Module) -> list[dict[str, Tensor]]:
    """:func:`generator_states` of every process, in rank order. A collective call in a distributed run (when the
    model owns a generator): every process must make it."""
    local = generator_states(model)
    if get_world_size() == 1 or not local:
        return [local]
    return all_gather_object(local)


def restore_generator_states(model: nn.Module, states: list[dict[str, Tensor]] | None, path: str) -> list[str]:
    """Set this process's generators of ``model`` to ``states[rank]`` (saved by :func:`gather_generator_states`);
    returns a sentence for each that could not be restored (the resumed run then draws other numbers)."""
    generators = model_generators(model)
    if not generators:
        return []
    names = ', '.join(f"{name}'s" for name in generators)
    after = 'so the resumed run draws other random numbers there than the interrupted one would have'
    if states is None:
        return [f'{path} holds no state of the {names} generator (saved by an older simsiam_mm or another hook), '
                f'{after}.']
    if len(states) != get_world_size():
        return [f'{path} holds the {names} generator states of {len(states)} process(es); this run has '
                f'{get_world_size()}, {after}.']
    problems, mine = [], states[get_rank()]
    for name, generator in generators.items():
        if name not in mine:
            problems.append(f"{path} holds no state of the {name}'s generator, {after}.")
            continue
        generator.set_state(mine[name].cpu())
    return problems


def _transform_names(transforms: Iterable) -> Iterator[str]:
    """The type names of ``transforms`` and of the steps nested in them (Compose, RandomApply, MultiView, ...)."""
    for transform in transforms:
        yield type(transform).__name__
        nested = getattr(transform, 'transforms', None)
        if nested is not None and not isinstance(nested, (list, tuple)):
            nested = getattr(nested, 'transforms', None)  # a Compose
        if isinstance(nested, (list, tuple)):
            yield from _transform_names(nested)


def _pipelines(dataset, where: str, cached: bool = False) -> Iterator[tuple[str, list, bool]]:
    """(config path, steps, whether its output is cached) of each pipeline of ``dataset`` and its wrapped ones."""
    pipeline = getattr(dataset, 'pipeline', None)
    steps = getattr(pipeline, 'transforms', None)
    if isinstance(steps, list):
        yield f'{where}.pipeline', steps, cached
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and inner is not dataset:
        yield from _pipelines(inner, f'{where}.dataset', cached or type(dataset).__name__ == 'CachedDataset')
    for i, part in enumerate(getattr(dataset, 'datasets', None) or []):
        yield from _pipelines(part, f'{where}.datasets.{i}', cached)


def _random_steps(steps: list) -> list[str]:
    names = dict.fromkeys(_transform_names(steps))  # ordered, without repeats
    return [name for name in names if name not in DETERMINISTIC_TRANSFORMS]


def unresumable_steps(model: nn.Module, loader, epoch_based: bool, checkpoint_by_epoch: bool) -> list[str]:
    """One sentence for each step of a run that draws from a source no checkpoint restores, or that cannot start
    mid-epoch, with what to do; an empty list: killed and resumed, the run continues as if uninterrupted.

    Args:
        model: the model (or its wrapper).
        loader: the train dataloader (its ``dataset`` and ``sampler`` are read).
        epoch_based: whether the loop is mmengine's ``EpochBasedTrainLoop`` (``IterBasedTrainLoop`` replays the
            batches already trained on, so it needs no sampler that starts mid-epoch).
        checkpoint_by_epoch: whether checkpoints are saved only at the ends of epochs.
    """
    problems = []
    sampler = getattr(loader, 'sampler', None)
    seeds = getattr(sampler, 'seed_per_sample', False)
    for where, steps, cached in _pipelines(getattr(loader, 'dataset', None), 'train_dataloader.dataset'):
        drawn = _random_steps(steps)
        if not drawn:
            continue
        names = ', '.join(drawn)
        if cached:
            problems.append(f'{where}: {names} draw(s) at random once, when CachedDataset caches the images, from '
                            'the process\'s generators: a resumed run caches other draws — keep the cached pipeline '
                            'deterministic and draw in the data preprocessor (BatchAugDataPreprocessor with '
                            'crop_size).')
        elif type(steps[0]).__name__ != 'SeedSampleRNG':
            problems.append(f"{where}: {names} draw(s) from the process's random generators, which no checkpoint "
                            f'saves: killed and resumed, the run would draw other augmentations than an '
                            f'uninterrupted one — {ADVICE_PIPELINE}.')
        elif not seeds:
            problems.append(f'{where}: SeedSampleRNG finds no per-sample seeds, because {type(sampler).__name__} '
                            f'hands out plain indices, so {names} draw(s) from unsaved generators — use '
                            "train_dataloader.sampler=dict(type='ResumableSampler').")
    for name, module in _bare(model).named_modules():
        rate = (module.p if isinstance(module, nn.modules.dropout._DropoutNd)
                else getattr(module, 'drop_prob', 0) if type(module).__name__ == 'DropPath' else 0)
        if rate > 0:
            problems.append(f"model.{name}: {type(module).__name__}(p={rate}) draws from torch's global generator, "
                            'which no checkpoint saves: killed and resumed, the run would drop other units — set '
                            'its rate to 0 for an exact resume.')
    if epoch_based and not checkpoint_by_epoch and not hasattr(sampler, 'resume'):
        problems.append(f'train_dataloader.sampler: {type(sampler).__name__} cannot start mid-epoch, so a checkpoint '
                        'saved by iteration (by_epoch=False) is resumed by replaying its epoch from the start — use '
                        "train_dataloader.sampler=dict(type='ResumableSampler').")
    return problems
