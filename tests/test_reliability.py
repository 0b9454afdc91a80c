"""Reliability (issue 7): every fault in docs/reliability.md has its test here.

Exact resume after SIGKILL, atomic checkpoints, truncated checkpoints, the NaN guard, bad images, bad configs,
batch sizes that do not split, pretrained checkpoints that match nothing. DDP equivalence is in
``test_ddp_equivalence.py``.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

import simsiam_mm  # noqa: F401  (registers our types)
from simsiam_mm.apis.config import check_batch_size, check_config, split_global_batch
from simsiam_mm.checkpoint import checkpoint_problem
from simsiam_mm.datasets import SafeLoadImageFromFile
from simsiam_mm.errors import CheckpointError, ConfigError, CorruptImageError, NonFiniteLossError
from simsiam_mm.models import BatchAugDataPreprocessor
from simsiam_mm.registry import HOOKS

from conftest import DATA, QUICK_CONFIG, REPO, require_data, tiny_model_cfg, tiny_pretrain_cfg, tiny_sizes

TINY_MODEL = tiny_sizes(width=8, dim=64, hid=64)  # ResNet-18-CIFAR at 1/8 width: a training step takes milliseconds
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread, as the subprocesses get (OMP_NUM_THREADS=1): on the shared 2-core machine
    oversubscribed threads make a tiny step 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_cfg(cifar10_root: Path, work_dir: Path, iters: int = 4, **ckpt) -> Config:
    """tiny_pretrain_cfg with the 1/8-width model and our checkpoint hook saving every iteration."""
    cfg = tiny_pretrain_cfg(cifar10_root, work_dir, iters=iters, batch_size=4, num_images=16)
    cfg.merge_from_dict({'model': TINY_MODEL})
    cfg.default_hooks.checkpoint = dict(type='ResumableCheckpointHook', interval=1, by_epoch=False, **ckpt)
    return cfg


# ---------------------------------------------------------------------------------------------------------------
# 1. Exact resume after SIGKILL mid-epoch
# ---------------------------------------------------------------------------------------------------------------
KILL_CFG = """
_base_ = {quick!r}
randomness = dict(seed=0)
model = {model!r}
train_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True,
                        dataset=dict(data_root={root!r}, indices=48))  # 6 iterations per epoch
train_cfg = dict(max_epochs=2)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=4, by_epoch=False, max_keep_ckpts=2))
log_processor = dict(window_size=1)  # log each iteration's own loss
"""


def _train(cfg_path: Path, work_dir: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, str(REPO / 'tools/train.py'), str(cfg_path), '--work-dir', str(work_dir), *extra]
    return subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _losses(work_dir: Path) -> dict[int, float]:
    """iteration -> loss from every run's vis_data/scalars.json in ``work_dir`` (later runs last)."""
    losses = {}
    for path in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if 'loss' in row:
                losses[row['step']] = row['loss']
    return losses


def _kill_after_checkpoint(cfg_path: Path, work: Path, kill_at: int) -> dict[int, float]:
    """Start ``tools/train.py`` on ``cfg_path`` in ``work`` and SIGKILL it as soon as ``iter_<kill_at>.pth`` is the
    last checkpoint; the losses it logged."""
    victim = _train(cfg_path, work)
    pointer = work / 'last_checkpoint'
    deadline = time.time() + 300
    while not (pointer.exists() and pointer.read_text().endswith(f'iter_{kill_at}.pth')):
        assert victim.poll() is None and time.time() < deadline, 'training ended before the checkpoint'
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=60) == -signal.SIGKILL
    assert checkpoint_problem(str(work / f'iter_{kill_at}.pth')) is None
    return _losses(work)


def _killed_and_resumed_equal_uninterrupted(cfg_path: Path, tmp_path: Path, kill_at: int, total: int,
                                            reference_options: tuple[str, ...] = ()) -> str:
    """Train ``cfg_path`` uninterrupted (with ``--cfg-options reference_options``), then again killed with SIGKILL
    right after the checkpoint of iteration ``kill_at`` and resumed with ``--resume``; assert that every iteration's
    logged loss (window 1) equals the uninterrupted run's, bit for bit. Returns the resumed run's log."""
    full = _train(cfg_path, tmp_path / 'full', *(('--cfg-options', *reference_options) if reference_options else ()))
    assert full.wait(timeout=600) == 0, full.stdout.read()[-3000:]
    reference = _losses(tmp_path / 'full')
    assert sorted(reference) == list(range(1, total + 1))

    work = tmp_path / 'killed'
    killed = _kill_after_checkpoint(cfg_path, work, kill_at)
    assert not (work / f'iter_{total}.pth').exists() and max(killed) < total  # really interrupted

    resumed_run = _train(cfg_path, work, '--resume')
    log = resumed_run.communicate(timeout=600)[0]
    assert resumed_run.returncode == 0, log[-3000:]
    resumed = {i: v for i, v in _losses(work).items() if i > kill_at}

    print(f'\niter  uninterrupted              killed at {kill_at} + resumed')
    for i in range(1, total + 1):
        got = killed.get(i) if i <= kill_at else resumed.get(i)
        same = '==' if got == reference[i] else '!='
        print(f'{i:4d}  {reference[i]: .18f}  {got: .18f}  {same}')
    assert sorted(resumed) == list(range(kill_at + 1, total + 1))
    assert all(killed[i] == reference[i] for i in range(1, kill_at + 1))
    differ = [i for i in resumed if resumed[i] != reference[i]]
    assert not differ, f'resumed losses differ from the uninterrupted run at iterations {differ}'  # exact
    assert len(set(reference.values())) == total  # the losses differ from step to step: equality is informative
    return log


@pytest.mark.slow  # three tools/train.py runs
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted_run(cifar10_root, tmp_path):
    """Kill ``tools/train.py`` (2 persistent dataloader workers) with SIGKILL right after the mid-epoch checkpoint of
    iteration 4 (an epoch has 6), resume with ``--resume``: iterations 5-12 (the rest of epoch 1, then epoch 2) have
    bit-identical losses to an uninterrupted run. The uninterrupted run loads in the main process (0 workers): the
    per-sample augmentation seeds make the result independent of the workers too."""
    cfg_path = tmp_path / 'kill_cfg.py'
    cfg_path.write_text(KILL_CFG.format(quick=str(QUICK_CONFIG), model=TINY_MODEL, root=str(cifar10_root)))
    log = _killed_and_resumed_equal_uninterrupted(
        cfg_path, tmp_path, kill_at=4, total=12,
        reference_options=('train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False'))
    assert 'resuming epoch 1 at batch 5/6 (iteration 5)' in log
    final = torch.load(tmp_path / 'killed/iter_12.pth', map_location='cpu')  # torch's default weights_only=True
    assert final['meta']['iter'] == 12
    fixed = [g for g in final['optimizer']['param_groups'] if g.get('fixed_lr')]  # the predictor's lr survived
    assert len(fixed) == 1 and fixed[0]['lr'] == pytest.approx(fixed[0]['initial_lr'])


@pytest.fixture(scope='module')
def tinyimagenet_root() -> Path:
    return require_data(DATA / 'tinyimagenet10-dev', 'Tiny-ImageNet-10 image folders')


SHORT_RECIPE_KILL_CFG = """
_base_ = {recipe!r}
randomness = dict(seed=0)
model = {model!r}
train_dataloader = dict(batch_size=16, dataset=dict(dataset=dict(data_root={root!r}, indices=64)))  # 4 it./epoch
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=3),
                   dict(type='CosineAnnealingLR', T_max=9, by_epoch=False, begin=3, end=12)]
train_cfg = dict(max_iters=12)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=3, max_keep_ckpts=2))
log_processor = dict(window_size=1)  # log each iteration's own loss
"""


@pytest.mark.slow  # three tools/train.py runs
def test_short_cpu_recipe_sigkill_then_resume_equals_uninterrupted_run(tinyimagenet_root, tmp_path):
    """The short CPU recipe (CachedDataset, views made batched in BatchAugDataPreprocessor), cut to 12 iterations of
    batch 16 on 64 Tiny-ImageNet images (4 iterations an epoch), killed with SIGKILL after the checkpoint of
    iteration 6 (mid-epoch) and resumed: iterations 7-12 have the uninterrupted run's losses, bit for bit. The
    crops, flips and colour draws come from the preprocessor's own generator, whose state the checkpoint holds."""
    recipe = REPO / 'configs/simsiam/simsiam_resnet18-w16_1xb64-coslr-6k_imagefolder-64px-cpu.py'
    cfg_path = tmp_path / 'kill_cfg.py'
    cfg_path.write_text(SHORT_RECIPE_KILL_CFG.format(recipe=str(recipe), model=TINY_MODEL,
                                                     root=str(tinyimagenet_root)))
    log = _killed_and_resumed_equal_uninterrupted(cfg_path, tmp_path, kill_at=6, total=12)
    assert 'ResumableCheckpointHook' not in '\n'.join(line for line in log.splitlines() if 'WARNING' in line)
    saved = torch.load(tmp_path / 'killed/iter_12.pth', map_location='cpu')['resume_state']['generators']
    assert len(saved) == 1 and list(saved[0]) == ['data_preprocessor']  # one process, one generator


DEVICEAUG_KILL_CFG = """
_base_ = {recipe!r}
randomness = dict(seed=0)
model = {model!r}
crop = dict(scale=32, crop_ratio_range=(0.2, 1.))
view_pipeline = [dict(type='FastRandomResizedCrop', **crop), dict(type='FastRandomFlip', prob=0.5)]
train_pipeline = [
    dict(type='SeedSampleRNG'),
    dict(type='FastLoadImageFromFile', draft_for=crop, max_skip_fraction=0.01),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True, prefetch_factor=2, pin_memory=False,
                        dataset=dict(_delete_=True, type='CustomDataset', data_root={root!r}, data_prefix='train',
                                     indices=48, pipeline=train_pipeline))  # 6 iterations per epoch
train_cfg = dict(max_epochs=2)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=4, by_epoch=False, max_keep_ckpts=2))
log_processor = dict(window_size=1)  # log each iteration's own loss
"""


@pytest.mark.slow  # three tools/train.py runs
def test_fast_deviceaug_sigkill_then_resume_equals_uninterrupted_run(tinyimagenet_root, tmp_path):
    """``-fast-deviceaug`` on the CPU (ResNet-18 at 1/8 width, 32 px crops, 48 Tiny-ImageNet images, 2 epochs of 6
    iterations), killed after the mid-epoch checkpoint of iteration 4 and resumed with 2 persistent workers: the
    losses of iterations 5-12 equal an uninterrupted run's (0 workers), bit for bit. The crops come from the
    per-sample seeds in the workers, the colour draws from the preprocessor's own generator in the main process."""
    recipe = REPO / 'configs/simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k-fast-deviceaug.py'
    model = tiny_model_cfg(width=8, dim=64, hid=64, cifar=False)
    model = {part: dict(model[part], _delete_=True) for part in ('backbone', 'neck', 'head')}  # no SyncBN: 1 process
    cfg_path = tmp_path / 'kill_cfg.py'
    cfg_path.write_text(DEVICEAUG_KILL_CFG.format(recipe=str(recipe), model=model, root=str(tinyimagenet_root)))
    log = _killed_and_resumed_equal_uninterrupted(
        cfg_path, tmp_path, kill_at=4, total=12,
        reference_options=('train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                           'train_dataloader.prefetch_factor=None'))
    assert 'resuming epoch 1 at batch 5/6 (iteration 5)' in log
    assert 'ResumableCheckpointHook' not in '\n'.join(line for line in log.splitlines() if 'WARNING' in line)


def test_resumable_sampler_skips_and_keeps_per_sample_seeds():
    """A resumed epoch yields the tail of the full epoch with the same augmentation seeds (which survive pickling to
    workers); the next epoch starts at 0 again, with a new order and new seeds; ranks share out the same order."""
    import pickle

    from simsiam_mm.datasets import ResumableSampler
    sampler = ResumableSampler(list(range(20)), seed=3)
    full = list(sampler)
    sampler.resume(skip=7)
    tail = list(sampler)
    assert tail == full[7:] and [i.aug_seed for i in tail] == [i.aug_seed for i in full[7:]]
    assert [pickle.loads(pickle.dumps(i)).aug_seed for i in tail] == [i.aug_seed for i in tail]
    assert list(sampler) == full  # one-shot
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch1 != full and {i.aug_seed for i in epoch1}.isdisjoint(i.aug_seed for i in full)
    assert len({i.aug_seed for i in full}) == 20


def test_batched_views_come_from_the_preprocessors_own_generator():
    """BatchAugDataPreprocessor (crops, flips, colour) draws from its own generator only: torch's global generator
    is left untouched, and the views follow the generator's state whatever else the process drew in between."""
    pre = BatchAugDataPreprocessor(mean=[0.] * 3, std=[1.] * 3, crop_size=16)
    data = dict(inputs=torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8), data_samples=None)
    state, global_state = pre.generator.get_state(), torch.get_rng_state()
    first = pre(data, training=True)['inputs']
    assert torch.equal(torch.get_rng_state(), global_state)
    torch.manual_seed(123)  # what a resumed process's global generator may look like
    pre.generator.set_state(state)
    again = pre(data, training=True)['inputs']
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], pre(data, training=True)['inputs'][0])  # and the state moves on


def test_preprocessor_generator_is_seeded_from_the_run_seed_and_rank(monkeypatch):
    """Built after mmengine seeds the process (``torch.manual_seed(seed)``): the same seed gives the same
    generator; another seed or another rank (mmengine seeds every rank alike) another one."""
    from simsiam_mm.models import batch_augment

    def state_after(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return BatchAugDataPreprocessor(mean=[0.] * 3, std=[1.] * 3).generator.get_state()

    assert torch.equal(state_after(5), state_after(5))
    assert not torch.equal(state_after(5), state_after(6))
    rank0 = state_after(5)
    monkeypatch.setattr(batch_augment, 'get_rank', lambda: 1)
    assert not torch.equal(state_after(5), rank0)


def test_generator_states_are_restored_per_process_or_named():
    """The saved states go back into the model's generators by module name; a checkpoint without them (an older
    file) or from another number of processes is named with what it means instead."""
    from simsiam_mm.engine.random_state import (
        gather_generator_states,
        model_generators,
        restore_generator_states,
    )
    model = torch.nn.Module()
    model.data_preprocessor = BatchAugDataPreprocessor(mean=[0.] * 3, std=[1.] * 3)
    assert list(model_generators(model)) == ['data_preprocessor']
    saved = gather_generator_states(model)
    expected = torch.rand(3, generator=model.data_preprocessor.generator)
    assert restore_generator_states(model, saved, 'ck.pth') == []
    assert torch.equal(torch.rand(3, generator=model.data_preprocessor.generator), expected)
    [old] = restore_generator_states(model, None, 'ck.pth')
    assert "ck.pth holds no state of the data_preprocessor's generator" in old and 'other random numbers' in old
    [other] = restore_generator_states(model, saved * 2, 'ck.pth')
    assert 'of 2 process(es); this run has 1' in other
    assert restore_generator_states(torch.nn.Linear(2, 2), None, 'ck.pth') == []  # nothing to restore


DDP_GENERATORS = """
import sys, torch, torch.distributed as dist
sys.path.insert(0, {repo!r})
from simsiam_mm.engine.random_state import gather_generator_states, restore_generator_states
from simsiam_mm.models import BatchAugDataPreprocessor
dist.init_process_group('gloo')
torch.manual_seed(0)  # mmengine seeds every rank alike (no diff_rank_seed)
model = torch.nn.Module()
model.data_preprocessor = BatchAugDataPreprocessor(mean=[0.] * 3, std=[1.] * 3)
generator = model.data_preprocessor.generator
torch.rand(3, generator=generator)
saved = gather_generator_states(model)  # what the checkpoint holds: every rank's state
expected = torch.rand(5, generator=generator)
torch.rand(7, generator=generator)  # the killed run went on
assert restore_generator_states(model, saved, 'ck.pth') == []
assert torch.equal(torch.rand(5, generator=generator), expected)
draws = [None, None]
dist.all_gather_object(draws, expected)
assert len(saved) == 2 and not torch.equal(draws[0], draws[1])  # the ranks draw independently
print('rank', dist.get_rank(), 'ok')
"""


@pytest.mark.slow  # two torchrun processes
def test_generator_states_of_every_process_are_saved_and_restored(tmp_path):
    """Under DDP (2 gloo processes seeded alike) each rank's preprocessor generator differs (the rank is mixed into
    its seed); the checkpoint's states are gathered from every rank and each rank gets its own back."""
    script = tmp_path / 'ddp_generators.py'
    script.write_text(DDP_GENERATORS.format(repo=str(REPO)))
    run = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
                          str(script)], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert 'rank 0 ok' in run.stdout and 'rank 1 ok' in run.stdout


def _loader_stand_in(loader: dict):
    """What ``unresumable_steps`` reads of a train dataloader (pipelines, sampler), built from its config without
    data."""
    from types import SimpleNamespace

    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope

    from simsiam_mm.datasets import CachedDataset
    from simsiam_mm.registry import DATA_SAMPLERS, TRANSFORMS

    def dataset(cfg: dict):
        if cfg['type'] == 'CachedDataset':
            return CachedDataset(dataset(cfg['dataset']))
        return SimpleNamespace(pipeline=Compose([TRANSFORMS.build(t) for t in cfg.get('pipeline', [])]))

    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        return SimpleNamespace(dataset=dataset(loader['dataset']),
                               sampler=DATA_SAMPLERS.build(dict(loader['sampler'], dataset=list(range(8)))))


def _unresumable(cfg: Config, model=None) -> list[str]:
    from mmengine.registry import DefaultScope

    from simsiam_mm.engine.random_state import unresumable_steps
    from simsiam_mm.registry import MODELS
    if model is None:
        with DefaultScope.overwrite_default_scope('simsiam_mm'):
            model = MODELS.build(cfg.model)
    epoch_based = cfg.train_cfg.get('type', 'EpochBasedTrainLoop') == 'EpochBasedTrainLoop'
    return unresumable_steps(model, _loader_stand_in(cfg.train_dataloader), epoch_based,
                             cfg.default_hooks.checkpoint.get('by_epoch', True))


def _ablation_configs() -> list[tuple[str, Config]]:
    """Every row of tools/analysis/ablations.py as it trains it (on the cpu-short budget's recipe)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('ablations', REPO / 'tools/analysis/ablations.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    budget = tool.BUDGETS['cpu-short']
    rows = {row.run: row for table in tool.TABLES for row in tool.rows_of(table, budget)}
    return [(f'ablations/{name}', tool.row_config(budget, row, 'data/cifar10', 1)) for name, row in rows.items()]


SHIPPED_CONFIGS = sorted((REPO / 'configs/simsiam').glob('*.py'))


@pytest.mark.parametrize('config', SHIPPED_CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_resumes_exactly(config):
    """Nothing any shipped pretraining config draws at random comes from a source no checkpoint restores (per-sample
    seeds in the pipeline, the preprocessor's own generator), and its sampler can start mid-epoch: the start-up check
    finds nothing to warn about (the SIGKILL tests above show it on the runs)."""
    assert _unresumable(Config.fromfile(str(config))) == []


@pytest.mark.slow  # builds ~20 models
def test_every_ablation_row_resumes_exactly():
    configs = _ablation_configs()
    assert len(configs) >= 11
    for name, cfg in configs:
        assert _unresumable(cfg) == [], name


def test_unresumable_steps_are_named_with_what_to_do():
    """The start-up check names each step that a resumed run would draw differently, and what to do."""
    model = torch.nn.Module()
    assert _unresumable(Config.fromfile(str(QUICK_CONFIG)), model) == []
    unseeded = Config.fromfile(str(QUICK_CONFIG))
    unseeded.train_dataloader.dataset.pipeline = unseeded.train_dataloader.dataset.pipeline[1:]  # no SeedSampleRNG
    [problem] = _unresumable(unseeded, model)
    assert problem.startswith('train_dataloader.dataset.pipeline: RandomResizedCrop, RandomApply, ColorJitter, '
                              "RandomGrayscale, RandomFlip draw(s) from the process's random generators")
    assert "put dict(type='SeedSampleRNG') first" in problem
    plain = Config.fromfile(str(QUICK_CONFIG))
    plain.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True)
    plain.default_hooks.checkpoint.by_epoch = False
    problems = _unresumable(plain, model)
    assert len(problems) == 2 and 'DefaultSampler hands out plain indices' in problems[0]
    assert 'DefaultSampler cannot start mid-epoch' in problems[1]
    cached = Config.fromfile(str(REPO / 'configs/simsiam/simsiam_resnet18-w16_1xb64-coslr-6k_imagefolder-32px-cpu.py'))
    cached.train_dataloader.dataset.dataset.pipeline.insert(-1, dict(type='RandomFlip', prob=0.5))
    [problem] = _unresumable(cached, model)
    assert problem.startswith('train_dataloader.dataset.dataset.pipeline: RandomFlip draw(s) at random once')
    model.head = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.1))
    [problem] = _unresumable(Config.fromfile(str(QUICK_CONFIG)), model)
    assert problem.startswith("model.head.1: Dropout(p=0.1) draws from torch's global generator")


@pytest.mark.slow  # trains 2 iterations
def test_unresumable_run_says_so_before_its_first_iteration(cifar10_root, tmp_path):
    cfg = tiny_cfg(cifar10_root, tmp_path, iters=2)
    cfg.train_dataloader.dataset.pipeline = cfg.train_dataloader.dataset.pipeline[1:]  # no SeedSampleRNG
    cfg.log_level = 'INFO'
    _train_in_process(cfg)
    log = next(tmp_path.glob('*/*.log')).read_text()
    warning = log.index('ResumableCheckpointHook: this run cannot be resumed exactly. train_dataloader.dataset.'
                        'pipeline: RandomResizedCrop')
    assert warning < log.index('Saving checkpoint at 1 iterations')


def test_infinite_resumable_sampler_is_the_epochs_back_to_back():
    """The iteration-based loop's sampler never runs out (no mmengine restart), and its stream is exactly
    ResumableSampler's epochs 0, 1, 2, ... (order and seeds), which mmengine's DefaultSampler orders; a stream
    resumed ``skip`` samples in (across an epoch boundary) continues it exactly."""
    from mmengine.dataset import DefaultSampler

    from simsiam_mm.datasets import InfiniteResumableSampler, ResumableSampler
    finite, default = ResumableSampler(list(range(10)), seed=5), DefaultSampler(list(range(10)), seed=5)
    epochs = []
    for epoch in range(4):
        finite.set_epoch(epoch)
        default.set_epoch(epoch)
        order = list(finite)
        assert order == list(default)
        epochs += order
    sampler = InfiniteResumableSampler(list(range(10)), seed=5)
    stream = iter(sampler)
    head = [next(stream) for _ in range(37)]
    assert head == epochs[:37] and [i.aug_seed for i in head] == [i.aug_seed for i in epochs[:37]]
    assert len(sampler) == 10  # one epoch, as mmengine's InfiniteSampler
    sampler.resume(skip=13)
    resumed = iter(sampler)
    assert [(i, i.aug_seed) for i in (next(resumed) for _ in range(24))] == [(i, i.aug_seed) for i in head[13:]]
    assert next(iter(sampler)) == head[0]  # one-shot


def test_iteration_based_resume_replays_the_infinite_stream_exactly():
    """How a resumed IterBasedTrainLoop continues: mmengine's _InfiniteDataloaderIterator draws the batches already
    trained on and discards them. With InfiniteResumableSampler (batches across epoch ends, drop_last, never a
    restart) the batches after the replay are those of the uninterrupted run, with the same per-sample seeds."""
    from mmengine.runner.loops import _InfiniteDataloaderIterator
    from torch.utils.data import DataLoader

    from simsiam_mm.datasets import InfiniteResumableSampler

    class Echo:  # a dataset whose sample is (index, its augmentation seed)
        def __len__(self) -> int:
            return 10

        def __getitem__(self, index) -> tuple[int, int]:
            return int(index), index.aug_seed

    def batches(replay: int, count: int) -> list[list[tuple[int, int]]]:
        loader = DataLoader(Echo(), batch_size=4, sampler=InfiniteResumableSampler(Echo(), seed=11),
                            drop_last=True, collate_fn=list)
        stream = _InfiniteDataloaderIterator(loader)
        for _ in range(replay):
            next(stream)
        return [next(stream) for _ in range(count)]

    whole = batches(0, 9)  # 36 samples: 3.6 epochs of 10, so batches straddle epoch ends
    assert batches(5, 4) == whole[5:]
    assert len({tuple(i for i, _ in b) for b in whole}) > 5


# ---------------------------------------------------------------------------------------------------------------
# 2. Atomic checkpoints; truncated checkpoints named on resume
# ---------------------------------------------------------------------------------------------------------------
class _Killed(BaseException):
    """Stands for SIGKILL arriving in the middle of writing a file (BaseException: nothing catches it)."""


def _kill_during_second_save(monkeypatch) -> None:
    """Make the second checkpoint write stop half-way, like a process killed while saving."""
    from mmengine.fileio.backends import LocalBackend
    put = LocalBackend.put
    calls = []

    def put_then_die(self, obj, filepath):
        calls.append(filepath)
        if len(calls) == 2:
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise _Killed()
        put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', put_then_die)


def _train_in_process(cfg: Config) -> None:
    """What tools/train.py does around the Runner: the resume decision (read once, checked), then training."""
    from simsiam_mm.apis import decide_resume
    from simsiam_mm.engine import SimSiamRunner
    runner = SimSiamRunner.from_cfg(cfg)
    if decide_resume(cfg, runner) is None:
        runner.train()


@pytest.mark.parametrize('hook', ['CheckpointHook', 'ResumableCheckpointHook'])
def test_kill_while_saving_keeps_previous_checkpoint(cifar10_root, tmp_path, monkeypatch, hook):
    """A kill in the middle of writing iter_2.pth (max_keep_ckpts=1). mmengine's own hook has by then deleted
    iter_1.pth and leaves a truncated iter_2.pth named by last_checkpoint: nothing to resume from. Ours leaves
    iter_1.pth complete and last_checkpoint naming it; a resume removes the partial file and continues."""
    cfg = tiny_cfg(cifar10_root, tmp_path, iters=3, max_keep_ckpts=1)
    cfg.default_hooks.checkpoint.type = hook
    _kill_during_second_save(monkeypatch)
    with pytest.raises(_Killed):
        _train_in_process(cfg)
    pointer = (tmp_path / 'last_checkpoint').read_text()
    if hook == 'CheckpointHook':  # the fault, shown on the stock hook
        assert not (tmp_path / 'iter_1.pth').exists()
        assert pointer.endswith('iter_1.pth')  # names a file that no longer exists
        assert checkpoint_problem(str(tmp_path / 'iter_2.pth')) is not None  # and the new one is truncated
        return
    assert pointer == str(tmp_path / 'iter_1.pth')
    assert checkpoint_problem(pointer) is None
    assert not (tmp_path / 'iter_2.pth').exists() and (tmp_path / 'iter_2.pth.tmp').exists()
    monkeypatch.undo()
    cfg.resume = True
    _train_in_process(cfg)
    assert not (tmp_path / 'iter_2.pth.tmp').exists()
    assert (tmp_path / 'last_checkpoint').read_text().endswith('iter_3.pth')
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_3.pth']


def test_truncated_checkpoint_is_named_and_previous_offered(cifar10_root, tmp_path):
    """Resuming from a truncated last checkpoint (e.g. copied from a full disk) stops with CheckpointError naming it
    and offering the previous complete one, before anything is loaded (tools/train.py prints such errors as one line,
    see test_unknown_config_key_via_train_py_prints_one_clear_line)."""
    cfg = tiny_cfg(cifar10_root, tmp_path, iters=2, max_keep_ckpts=2)
    _train_in_process(cfg)
    last = tmp_path / 'iter_2.pth'
    data = last.read_bytes()
    last.write_bytes(data[:len(data) // 3])
    cfg.resume = True
    with pytest.raises(CheckpointError) as err:
        _train_in_process(cfg)
    msg = str(err.value)
    assert str(last) in msg and 'previous complete checkpoint is ' + str(tmp_path / 'iter_1.pth') in msg
    assert '--resume ' + str(tmp_path / 'iter_1.pth') in msg


# ---------------------------------------------------------------------------------------------------------------
# 3. NaN/Inf guard
# ---------------------------------------------------------------------------------------------------------------
@HOOKS.register_module(name='_TestDivergeHook', force=True)
class _Diverge(Hook):
    """After iteration 2 (and its checkpoint) poison one weight, as a diverging run would."""
    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == 2:
            runner.model.neck.mlp[0].weight.data.fill_(float('nan'))


@pytest.mark.parametrize('guard', [False, True])
def test_non_finite_loss_stops_before_nan_weights_are_saved(cifar10_root, tmp_path, guard):
    """Without the guard the run finishes and iter_3.pth/iter_4.pth hold NaN weights; with NonFiniteLossHook it
    stops at iteration 3 naming the iteration, the last good checkpoint (iter_2.pth) and the lr/AMP hint."""
    cfg = tiny_cfg(cifar10_root, tmp_path, iters=4)
    cfg.custom_hooks = [dict(type='_TestDivergeHook')] + ([dict(type='NonFiniteLossHook')] if guard else [])
    if not guard:
        _train_in_process(cfg)
        weights = torch.load(tmp_path / 'iter_4.pth')['state_dict']
        assert not all(torch.isfinite(v).all() for v in weights.values())  # the fault: NaN weights on disk
        return
    with pytest.raises(NonFiniteLossError) as err:
        _train_in_process(cfg)
    msg = str(err.value)
    assert 'Non-finite loss at iteration 3' in msg and 'loss=nan' in msg
    assert f'Last good checkpoint: {tmp_path / "iter_2.pth"}' in msg and 'lr' in msg and 'AMP' not in msg
    assert not (tmp_path / 'iter_3.pth').exists()
    saved = torch.load(tmp_path / 'iter_2.pth')['state_dict']
    assert all(torch.isfinite(v).all() for v in saved.values())


def test_default_runtime_enables_the_guards():
    cfg = Config.fromfile(str(QUICK_CONFIG))
    assert cfg.default_hooks.checkpoint.type == 'ResumableCheckpointHook'
    assert any(h['type'] == 'NonFiniteLossHook' for h in cfg.custom_hooks)
    assert cfg.train_dataloader.sampler.type == 'ResumableSampler'
    assert [t.type for t in cfg.train_dataloader.dataset.pipeline[:2]] == ['SeedSampleRNG', 'SafeLoadImageFromFile']


# ---------------------------------------------------------------------------------------------------------------
# 4. Bad images
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def real_jpeg(cifar10_root) -> Path:
    return cifar10_root / 'train' / 'cat' / '0000.jpg'


def test_truncated_jpeg_and_non_image_named(real_jpeg, tmp_path):
    truncated = tmp_path / 'truncated.jpg'
    truncated.write_bytes(real_jpeg.read_bytes()[:len(real_jpeg.read_bytes()) // 2])
    text = tmp_path / 'notes.jpg'
    text.write_text('not an image')
    load = SafeLoadImageFromFile(skip_corrupt=False)
    with pytest.raises(CorruptImageError, match=f'^{truncated}: the image is truncated or corrupt'):
        load(dict(img_path=str(truncated)))
    with pytest.raises(CorruptImageError, match=f'^{text}: not an image file'):
        load(dict(img_path=str(text)))
    with pytest.raises(CorruptImageError, match='does not exist'):
        load(dict(img_path=str(tmp_path / 'missing.jpg')))
    ok = load(dict(img_path=str(real_jpeg)))['img']
    assert ok.shape == (32, 32, 3) and ok.dtype == np.uint8


def _folder_with_corrupt_images(cifar10_root: Path, root: Path, n_good: int, n_bad: int) -> Path:
    for i, src in enumerate(sorted((cifar10_root / 'train' / 'dog').glob('*.jpg'))[:n_good]):
        (root / 'train' / ('a' if i % 2 else 'b')).mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / 'train' / ('a' if i % 2 else 'b') / src.name)
    (root / 'train' / 'a').mkdir(parents=True, exist_ok=True)
    for i in range(n_bad):
        (root / 'train' / 'a' / f'bad{i}.jpg').write_bytes(b'\xff\xd8\xff\xe0 cut short')
    return root


def _dataset(root: Path, **load_args):
    from mmengine.registry import init_default_scope
    from mmpretrain.datasets import CustomDataset
    init_default_scope('simsiam_mm')
    return CustomDataset(data_root=str(root), data_prefix='train', pipeline=[
        dict(type='SafeLoadImageFromFile', **load_args), dict(type='PackInputs')])


def test_corrupt_images_are_skipped_with_a_count_until_the_threshold(cifar10_root, tmp_path):
    """2 corrupt of 12 files: with max_skip_fraction=0.5 every item is a real image (the dataset draws another)
    and the warnings count the skips; with 0.05 the run stops, naming a file and the fraction."""
    root = _folder_with_corrupt_images(cifar10_root, tmp_path, n_good=10, n_bad=2)
    lenient = _dataset(root, max_skip_fraction=0.5, min_samples=1)
    items = [lenient[i] for i in range(len(lenient))]
    assert len(items) == 12 and all(x['inputs'].shape == (3, 32, 32) for x in items)
    load = lenient.pipeline.transforms[0]
    assert load.num_skipped >= 2  # both bad files (a random redraw may hit one again)
    assert load.num_loaded == 12 + load.num_skipped  # every skip was replaced by one more load

    strict = _dataset(root, max_skip_fraction=0.05, min_samples=5)
    with pytest.raises(CorruptImageError, match=r'bad\d\.jpg.*Too many corrupt images: \d+ of the \d+ loaded'):
        for i in range(len(strict)):
            strict[i]


def test_error_from_a_dataloader_worker_keeps_our_sentence(cifar10_root, tmp_path):
    """A corrupt image found inside a worker process reaches the main process as our exception type, and
    user_message (what tools/train.py prints) gives our sentence, not torch's wrapped traceback."""
    from torch.utils.data import DataLoader

    from simsiam_mm.errors import user_message
    root = _folder_with_corrupt_images(cifar10_root, tmp_path, n_good=0, n_bad=1)
    dataset = _dataset(root, skip_corrupt=False)
    with pytest.raises(CorruptImageError) as err:
        next(iter(DataLoader(dataset, num_workers=1, collate_fn=lambda x: x)))
    assert 'Original Traceback' in str(err.value)  # torch's wrapping
    assert user_message(err.value) == (f'{root}/train/a/bad0.jpg: the image is truncated or corrupt (Truncated File '
                                       'Read) — replace or remove the file. (raised as CorruptImageError in '
                                       'DataLoader worker process 0)')


def test_data_root_missing_empty_class_folder_empty_dataset(cifar10_root, tmp_path):
    cfg = Config.fromfile(str(QUICK_CONFIG))
    dataset = cfg.train_dataloader.dataset
    dataset.data_root = str(tmp_path / 'nowhere')
    with pytest.raises(ConfigError, match=r"^train_dataloader\.dataset\.data_root='.*nowhere' does not exist"):
        check_config(cfg)
    (tmp_path / 'data' / 'train').mkdir(parents=True)
    dataset.data_root = str(tmp_path / 'data')
    with pytest.raises(ConfigError, match=r'dataset folder .*train is empty'):
        check_config(cfg)
    _folder_with_corrupt_images(cifar10_root, tmp_path / 'data', n_good=4, n_bad=0)
    (tmp_path / 'data' / 'train' / 'c_empty').mkdir()
    with pytest.raises(ConfigError, match=r'1 class folder\(s\) under .*train hold no images: c_empty'):
        check_config(cfg)
    (tmp_path / 'data' / 'train' / 'c_empty').rmdir()
    check_config(cfg)  # now valid


# ---------------------------------------------------------------------------------------------------------------
# 5. Bad configs
# ---------------------------------------------------------------------------------------------------------------
def _quick(cifar10_root) -> Config:
    cfg = Config.fromfile(str(QUICK_CONFIG))
    cfg.train_dataloader.dataset.data_root = str(cifar10_root)
    return cfg


@pytest.mark.parametrize('edit, message', [
    (lambda c: c.model.backbone.update(dpeth=18),
     "model.backbone.dpeth: unknown key for ResNet_CIFAR (model type 'ResNet_CIFAR'); nearest valid names: depth"),
    (lambda c: c.model.neck.update(type='SimSiamProjektor'),
     "model.neck.type='SimSiamProjektor' is not a registered model type (scope 'simsiam_mm' and its parents); "
     'nearest valid names: SimSiamProjector'),
    (lambda c: c.update(train_dataloder=dict(batch_size=8)),
     "Unknown top-level config key 'train_dataloder' (the Runner would silently ignore it); nearest valid names: "
     'train_dataloader'),
    (lambda c: c.train_dataloader.update(batchsize=8),
     'train_dataloader.batchsize: unknown dataloader key; nearest valid names: batch_size'),
    (lambda c: c.train_dataloader.dataset.pipeline[2].transforms[0][0].update(scal=32),
     'train_dataloader.dataset.pipeline[2].transforms[0][0].scal: unknown key for RandomResizedCrop'),
    (lambda c: c.optim_wrapper.optimizer.update(momentun=0.9),
     "optim_wrapper.optimizer.momentun: unknown key for SGD (optimizer type 'SGD'); nearest valid names: momentum"),
    (lambda c: c.default_hooks.checkpoint.update(type='ResumableCheckpointHok'),
     "default_hooks.checkpoint.type='ResumableCheckpointHok' is not a registered hook type"),
    (lambda c: c.default_hooks.checkpoint.update(_scope_='mmpretrain'),  # the `mmpretrain::` base inheritance trap
     "default_hooks.checkpoint.type='ResumableCheckpointHook' is not a registered hook type (scope 'mmpretrain' and "
     "its parents); it is registered in scope 'simsiam_mm', which default_hooks.checkpoint._scope_='mmpretrain' "
     "hides"),
    (lambda c: c.update(custom_hooks=[dict(type='NonFiniteLossHook', prority='LOW')]),
     "custom_hooks[0].prority: unknown key for NonFiniteLossHook (hook type 'NonFiniteLossHook')"),
])
def test_unknown_key_or_type_names_it_and_nearest_valid_names(cifar10_root, edit, message):
    cfg = _quick(cifar10_root)
    check_config(cfg)  # valid before the edit
    edit(cfg)
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert str(err.value).startswith(message)


def test_hook_priority_is_a_build_option_not_an_unknown_key(cifar10_root):
    """``priority`` is taken off a custom hook's dict by ``Runner.register_hook`` (mmpretrain's SwAV config gives its
    SwAVHook one): accepted for any hook."""
    cfg = _quick(cifar10_root)
    cfg.custom_hooks = [dict(type='NonFiniteLossHook', priority='VERY_HIGH'),
                        dict(type='mmpretrain.SwAVHook', priority='VERY_HIGH', batch_size=8)]
    check_config(cfg)


@pytest.mark.slow  # every config read and checked: ~9 s
def test_every_pretraining_config_passes_the_check(tmp_path):
    """No false alarms: every config in configs/ and benchmarks/classification/ passes (data roots pointed at a
    folder); the mmdet/mmseg benchmarks (mmdet's and mmseg's scopes) are checked in
    tests/test_benchmarks_downstream.py."""
    for split in ('train', 'val', 'test'):
        (tmp_path / split / 'cls').mkdir(parents=True)
        (tmp_path / split / 'cls' / 'x.jpg').touch()
    skipped = {'_base_', 'mmdetection', 'mmsegmentation'}
    configs = sorted(p for root in ('configs', 'benchmarks') for p in (REPO / root).rglob('*.py')
                     if not skipped & set(p.parts))
    assert configs
    for path in configs:
        cfg = Config.fromfile(str(path))
        for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            dataset = cfg[name].get('dataset') if isinstance(cfg.get(name), dict) else None
            while isinstance(dataset, dict) and isinstance(dataset.get('dataset'), dict):
                dataset = dataset.dataset  # a wrapper (CachedDataset): the data root is the wrapped dataset's
            if isinstance(dataset, dict):
                dataset.data_root = str(tmp_path)
        check_config(cfg)


@pytest.mark.slow  # a tools/train.py subprocess
def test_unknown_config_key_via_train_py_prints_one_clear_line(cifar10_root):
    run = subprocess.run([sys.executable, 'tools/train.py', str(QUICK_CONFIG), '--cfg-options',
                          f'train_dataloader.dataset.data_root={cifar10_root}', 'model.backbone.dpeth=18'],
                         cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and 'Traceback' not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "train.py: error: model.backbone.dpeth: unknown key for ResNet_CIFAR (model type 'ResNet_CIFAR'); "
        'nearest valid names: depth.')


def test_global_batch_that_does_not_divide_over_processes():
    cfg = Config(dict(global_batch_size=512, train_dataloader=dict(batch_size=None)))
    with pytest.raises(ConfigError, match=r'global_batch_size=512 does not divide over 3 processes .*170\.67.*'
                                          r'e\.g\. 510 or 513'):
        split_global_batch(cfg, world_size=3)
    assert cfg.train_dataloader.batch_size is None  # nothing changed by the refusal
    check_batch_size(cfg, world_size=3)  # the check alone never changes the config
    assert cfg.train_dataloader.batch_size is None
    assert split_global_batch(cfg, world_size=4) == 128 and cfg.train_dataloader.batch_size == 128
    tiny = Config(dict(global_batch_size=4, train_dataloader=dict(batch_size=None)))
    split_global_batch(tiny, world_size=4)
    with pytest.raises(ConfigError, match=r'train_dataloader\.batch_size=1 per process \(4 processes\): BatchNorm'):
        check_batch_size(tiny, world_size=4)


# ---------------------------------------------------------------------------------------------------------------
# 6. Pretrained checkpoints whose keys match nothing
# ---------------------------------------------------------------------------------------------------------------
def test_pretrained_checkpoint_whose_backbone_keys_match_nothing(tmp_path):
    from mmengine.registry import init_default_scope

    from simsiam_mm.registry import MODELS
    init_default_scope('simsiam_mm')
    simsiam = MODELS.build(tiny_model_cfg(width=8, dim=64, hid=64, num_layers=3,
                                          loss=dict(type='NegativeCosineSimilarity')))
    ckpt = tmp_path / 'simsiam.pth'
    torch.save(dict(state_dict=simsiam.state_dict()), ckpt)

    def backbone(**init):
        return MODELS.build(dict(type='ResNet_CIFAR', depth=18, **TINY_MODEL['backbone'],
                                 init_cfg=dict(type='CheckedPretrained', checkpoint=str(ckpt), **init)))

    good = backbone(prefix='backbone.')
    good.init_weights()
    assert torch.equal(good.conv1.weight, simsiam.backbone.conv1.weight)

    no_prefix = backbone()  # keys are 'backbone.conv1.weight', the model wants 'conv1.weight'
    with pytest.raises(CheckpointError, match=rf"^{ckpt}: only 0 of the \d+ tensors of ResNet_CIFAR match.*"
                                              r"load its backbone with prefix='backbone\.'"):
        no_prefix.init_weights()
    wrong_prefix = backbone(prefix='encoder.')
    with pytest.raises(CheckpointError,
                       match=r"no tensor starts with 'encoder\.' .*its keys start with \['backbone\.', "):
        wrong_prefix.init_weights()
    wider = MODELS.build(dict(type='ResNet_CIFAR', depth=18, init_cfg=dict(  # full width: every shape differs
        type='CheckedPretrained', checkpoint=str(ckpt), prefix='backbone.')))
    with pytest.raises(CheckpointError, match='have the right name but another shape'):
        wider.init_weights()
