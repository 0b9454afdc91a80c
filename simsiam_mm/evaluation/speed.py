"""What a training step costs: seconds (data and step), memory, FLOPs; for the throughput tools.

:class:`TrainSteps` steps one model, optim wrapper and loader one iteration at a time and keeps every iteration's
times, so that several of them (variants of a config) can be interleaved in one process and compared on identical
inputs (``tools/analysis/train_throughput.py``, ``tools/analysis/short_recipe_speed.py``).
"""
import copy
import random
import statistics
import time
from collections.abc import Sequence

import numpy as np
import torch
from mmengine.registry import DefaultScope


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (the augmentation draws of an in-process pipeline)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rotated(items: Sequence, round_idx: int) -> list:
    """``items`` in the order of round ``round_idx`` of an interleaved measurement: ABC, BCA, CAB, ... (load from
    other processes on a shared machine then hits every item alike)."""
    k = round_idx % len(items)
    return list(items[k:]) + list(items[:k])


def to_device(obj, device: torch.device):
    """``obj`` (a collated batch: dicts, lists, tensors) with every tensor on ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def describe_model(model_cfg: dict, scope: str) -> dict:
    """The model a config builds in ``scope``: the scope, its class and its parameter shapes (sorted), what a
    comparison of variants checks before timing them (no weights are initialised, nothing is run)."""
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(model_cfg)
    return dict(scope=scope, model=f'{type(model).__module__}.{type(model).__name__}',
                param_shapes=sorted(list(p.shape) for p in model.parameters()))


class MemoryMeter:
    """Peak memory of a step. CPU: the kernel's resident-set high-water mark (``VmHWM``), reset before the step by
    writing 5 to ``/proc/self/clear_refs`` (Linux >= 4.0); no sampling thread competes with the step's threads.
    GPU: ``max_memory_allocated``. Where the reset is refused the mark is the process's peak so far."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.before = 0

    @staticmethod
    def _status_kib(field: str) -> int:
        with open('/proc/self/status') as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field + ':'))

    def start(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats()
            self.before = torch.cuda.memory_allocated()
            return
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # reset VmHWM to the current RSS
        except OSError:
            pass
        self.before = self._status_kib('VmRSS') * 1024

    def stop(self) -> tuple[int, int]:
        """(peak bytes, rise over the start)."""
        if self.device.type == 'cuda':
            peak = torch.cuda.max_memory_allocated()
        else:
            peak = self._status_kib('VmHWM') * 1024
        return peak, peak - self.before


class TrainSteps:
    """One model + optim wrapper + loader, stepped one iteration at a time; ``times`` holds every iteration's
    ``data_s`` (waiting for the batch), ``step_s`` (``model.train_step``: preprocessing, forward, backward,
    optimizer), memory and loss.

    Args:
        model, optim_wrapper, loader: built (see :meth:`build`).
        scope: the registry scope ``train_step`` runs in.
        seed: with ``reseed``, the generators are seeded with ``seed + round`` before each batch is loaded, so
            in-process loaders of several instances draw identical augmentations.
        data_on_device: load one batch, move it to the device and step on it every time (compute bound).
    """

    def __init__(self, model, optim_wrapper, loader, scope: str = 'simsiam_mm', seed: int = 0, reseed: bool = False,
                 data_on_device: bool = False) -> None:
        self.model, self.optim_wrapper, self.loader, self.scope = model, optim_wrapper, loader, scope
        self.device = next(model.parameters()).device
        self.seed, self.reseed, self.data_on_device = seed, reseed, data_on_device
        self._cached = None
        self._it = iter(loader)
        self.times: list[dict] = []

    @classmethod
    def build(cls, model_cfg: dict, optim_cfg: dict, loader_cfg: dict, scope: str = 'simsiam_mm',
              device: torch.device | str = 'cpu', seed: int = 0, init_weights: bool = True,
              compile_cfg: dict | bool | None = None, **kwargs) -> 'TrainSteps':
        """Build the model (weights seeded with ``seed``; SyncBN reverted to BN) and its optim wrapper in
        ``scope``, the loader in ours, and wrap ``train_step`` in ``torch.compile`` as mmengine's Runner does with
        ``cfg.compile``."""
        from mmengine.model import revert_sync_batchnorm
        from mmengine.optim import build_optim_wrapper
        from mmengine.registry import MODELS
        from mmengine.runner import Runner
        with DefaultScope.overwrite_default_scope(scope):
            torch.manual_seed(seed)
            model = MODELS.build(model_cfg)
            if init_weights:
                model.init_weights()
            model = revert_sync_batchnorm(model).to(device).train()
            optim_wrapper = build_optim_wrapper(model, optim_cfg)
        with DefaultScope.overwrite_default_scope('simsiam_mm'):
            loader = Runner.build_dataloader(loader_cfg, seed=seed)
        if compile_cfg:
            model.train_step = torch.compile(model.train_step, **({} if compile_cfg is True else dict(compile_cfg)))
        return cls(model, optim_wrapper, loader, scope=scope, seed=seed, **kwargs)

    def next_batch(self, round_idx: int):
        if self.data_on_device:
            if self._cached is None:
                self._cached = to_device(self._load(round_idx), self.device)
            return self._cached
        return self._load(round_idx)

    def _load(self, round_idx: int):
        if self.reseed:
            seed_all(self.seed + round_idx)
        try:
            return next(self._it)
        except StopIteration:
            self._it = iter(self.loader)
            return next(self._it)

    def _train_step(self, batch):
        with DefaultScope.overwrite_default_scope(self.scope):
            return self.model.train_step(batch, self.optim_wrapper)  # .item() inside: synchronises the device

    def step(self, round_idx: int, memory: MemoryMeter | None = None) -> dict:
        """One timed iteration; its record (also appended to ``times``)."""
        t0 = time.perf_counter()
        batch = self.next_batch(round_idx)
        t1 = time.perf_counter()
        if memory:
            memory.start()
        log_vars = self._train_step(batch)
        if self.device.type == 'cuda':
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        peak, rise = memory.stop() if memory else (0, 0)
        rec = dict(data_s=t1 - t0, step_s=t2 - t1, peak_mem_b=peak, step_mem_rise_b=rise,
                   loss=float(torch.as_tensor(log_vars['loss']).detach()))
        self.times.append(rec)
        return rec

    def flops(self) -> int:
        """FLOPs of one training step (forward and backward, every view) counted by ``FlopCounterMode``; one
        untimed step on a batch of its own."""
        from torch.utils.flop_counter import FlopCounterMode
        batch = self.next_batch(10 ** 6)
        counter = FlopCounterMode(display=False)
        with counter:
            self._train_step(batch)
        return counter.get_total_flops()

    def saved_activation_bytes(self) -> int:
        """Bytes of the tensors autograd saves for the backward pass in one step (each storage counted once): the
        activation memory, which is what batch, resolution, dtype and layout change. One untimed step."""
        storages: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
            return t

        batch = self.next_batch(10 ** 6 + 1)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            self._train_step(batch)
        return sum(storages.values())

    def close(self) -> None:
        self._it = None
        self.loader = None

    def summary(self, warmup: int, images_per_step: int) -> dict:
        """Medians over the iterations after ``warmup``: images/s, seconds per iteration (data, step), the peak
        memory and its rise, the last loss; ``rounds`` keeps every iteration's record."""
        kept = self.times[warmup:]
        total = statistics.median(r['data_s'] + r['step_s'] for r in kept)
        return dict(images_per_s=images_per_step / total, iter_s=total,
                    data_s=statistics.median(r['data_s'] for r in kept),
                    step_s=statistics.median(r['step_s'] for r in kept),
                    peak_mem_gib=max(r['peak_mem_b'] for r in kept) / 2 ** 30,
                    step_mem_rise_gib=max(r['step_mem_rise_b'] for r in kept) / 2 ** 30,
                    loss_last=kept[-1]['loss'], rounds=self.times)


def decode_once_check(pipeline: list[dict], data_root: str, n: int = 32) -> dict:
    """A two-view pipeline (load, ``MultiView``, ...) as given, against the same views each decoding the image
    again: the decodes per image counted (the load transform's calls) and the milliseconds per image timed, over
    the first ``n`` images of ``data_root``/train."""
    from mmpretrain.datasets import CustomDataset

    from simsiam_mm.registry import TRANSFORMS
    pipeline = copy.deepcopy(pipeline)
    load = next(t for t in pipeline if 'Load' in t['type'])  # (Safe)LoadImageFromFile
    multiview = next(t for t in pipeline if t['type'] == 'MultiView')
    rest = [t for t in pipeline if t is not load and t is not multiview and t['type'] != 'SeedSampleRNG']
    per_view = [dict(multiview, transforms=[[load, *view] for view in multiview['transforms']]), *rest]
    load_cls = TRANSFORMS.get(load['type'])
    original, calls = load_cls.transform, {'n': 0}

    def counting(self, results):
        calls['n'] += 1
        return original(self, results)

    out = {}
    load_cls.transform = counting  # this process only: counts decodes
    try:
        for label, pipe in (('decode once + 2 augmentations (ours)', pipeline), ('decode per view', per_view)):
            with DefaultScope.overwrite_default_scope('simsiam_mm'):
                ds = CustomDataset(data_root=data_root, data_prefix='train', indices=n, pipeline=pipe)
            calls['n'], count = 0, min(n, len(ds))  # a small data root may hold fewer than n images
            random.seed(0), np.random.seed(0)
            t = time.perf_counter()
            for i in range(count):
                ds[i]
            out[label] = dict(ms_per_image=1e3 * (time.perf_counter() - t) / count,
                              decodes_per_image=calls['n'] / count)
    finally:
        load_cls.transform = original
    return out
