"""Training throughput of our SimSiam, plain and with each fast-path switch, against mmpretrain 1.2.0's SimSiam.

Every variant of a case is built in this one process and measured on identical inputs (the same CIFAR-10 images
through the same two-view pipeline, the same augmentation draws: the RNGs are re-seeded before each batch), the same
batch, resolution and thread count. Iterations are interleaved (round r runs one iteration of every variant, in an
order rotated by r: ABC, BCA, CAB, ...), so load from other processes on a shared machine hits every variant alike;
the first ``--warmup`` rounds are dropped and the median of the remaining ``--iters`` is reported.

Per variant: images/s (one image = two views through the encoder), median seconds waiting for the batch (data) and in
``model.train_step`` (step: preprocessing, forward of both views, backward, optimizer), memory (the bytes autograd saves
for backward in one step; peak memory: on CPU the resident-set high-water mark of its steps, which counts every
variant's model since they share the process, on GPU ``max_memory_allocated``), and the achieved FLOP/s of the step
(FLOPs counted once per case with ``torch.utils.flop_counter.FlopCounterMode``) against the machine's float32 and
bfloat16 ``torch.mm`` peak measured here. Also checks that the two-view pipeline decodes each image once (the load step
before ``MultiView``) and times it against decoding once per view.

Variants (``--variants``):

    mmpretrain      ``mmpretrain::simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py`` (scope mmpretrain; SyncBN->BN;
                    for the CIFAR case its backbone/neck are swapped for ResNet-18-CIFAR and a 2-layer projector)
    ours            our config, as is (float32)
    +channels_last  ours + ``model.data_preprocessor.channels_last=True``
    +bf16           ours + ``optim_wrapper.type='AutocastOptimWrapper'`` (bfloat16 autocast, float32 master weights)
    +foreach        ours + ``optim_wrapper.optimizer.foreach=True``
    +fused          ours + ``optim_wrapper.optimizer.fused=True``
    +loader         ours + ``--workers`` persistent loader workers with prefetch (pinned memory on GPU)
    +compile        ours + ``compile=True`` (mmengine's option: ``torch.compile(model.train_step)``)
    fast            the case's ``*-fast.py`` config: every switch it turns on

The documented run (docs/performance.md)::

    nice -n 0 python tools/analysis/train_throughput.py --threads 1 --ablation-cases r50-224-b8 r50-64-b32 \
        --out docs/performance_cpu.json

Quick look (a few minutes): ``--cases r50-64-b32 --iters 2 --warmup 1``. What would be compared, in seconds, without
data or timing: ``--dry-run`` (each variant's registry scope, model class and parameter shapes, and the config parts
it changes against ``ours``; written to ``--out``).
"""
import argparse
import copy
import json
import math
import os
import platform
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.logging import MMLogger
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from simsiam_mm.errors import add_debug_flag, cli_main

REPO = Path(__file__).resolve().parents[2]
CFG = REPO / 'configs/simsiam'
MMPRETRAIN_CFG = 'mmpretrain::simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py'

CASES: dict[str, dict] = {
    'r50-224-b8': dict(config=CFG / 'simsiam_resnet50_8xb32-coslr-100e_in1k.py',
                       fast=CFG / 'simsiam_resnet50_8xb32-coslr-100e_in1k-fast.py', resolution=224, batch=8),
    'r50-64-b32': dict(config=CFG / 'simsiam_resnet50_8xb32-coslr-100e_in1k.py',
                       fast=CFG / 'simsiam_resnet50_8xb32-coslr-100e_in1k-fast.py', resolution=64, batch=32),
    'r18cifar-32-b256': dict(config=CFG / 'simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10.py',
                             fast=CFG / 'simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10-fast.py', resolution=32,
                             batch=256, cifar=True),
}
SWITCHES = ['+channels_last', '+bf16', '+foreach', '+fused', '+loader', '+compile']
VARIANTS = ['mmpretrain', 'ours', *SWITCHES, 'fast']


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    default_data = Path(os.environ.get('SIMSIAM_MM_DATA', REPO.parent / 'shared' / 'data')) / 'cifar10'
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--cases', nargs='+', default=list(CASES), choices=list(CASES))
    p.add_argument('--variants', nargs='+', default=['mmpretrain', 'ours', 'fast'], choices=VARIANTS,
                   help='which variants every case runs (add the single switches to measure each one)')
    p.add_argument('--ablation-cases', nargs='*', default=[], choices=list(CASES),
                   help='cases that also run every single switch except +compile (see --variants)')
    p.add_argument('--batch', type=int, default=None, help='override every case\'s batch size')
    p.add_argument('--resolution', type=int, default=None, help='override every case\'s resolution')
    p.add_argument('--iters', type=int, default=5, help='measured rounds (median over them)')
    p.add_argument('--warmup', type=int, default=2, help='rounds dropped before measuring')
    p.add_argument('--threads', type=int, default=torch.get_num_threads(), help='torch intra-op threads, all variants')
    p.add_argument('--workers', type=int, default=2, help='loader workers of +loader and fast (others: 0, in-process)')
    p.add_argument('--data-root', default=str(default_data), help='CIFAR-10 folders: train/<class>/*.jpg')
    p.add_argument('--num-images', type=int, default=None, help='images the loaders cycle over (default: 4 batches)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--no-flops', action='store_true', help='skip FLOP counting and the matmul peak')
    p.add_argument('--workers-for-all', action='store_true',
                   help='every variant loads through --workers processes (end to end; augmentation draws then differ)')
    p.add_argument('--data-on-device', action='store_true',
                   help='compute bound: each variant loads one batch, moves it to the device and steps on it')
    p.add_argument('--dry-run', action='store_true',
                   help='build the variants only: scope, model, parameter shapes, config parts changed vs ours')
    p.add_argument('--out', default='work_dirs/train_throughput.json', help='JSON with every measured time')
    add_debug_flag(p)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------------- configs


def _load(path: Path) -> Config:
    if not Path(path).is_file():
        raise FileNotFoundError(f'train_throughput: config {path} does not exist')
    return Config.fromfile(str(path))


def mmpretrain_config(case: dict) -> Config:
    """mmpretrain's own SimSiam config (ResNet-50); for the CIFAR case, the same with our CIFAR architecture."""
    cfg = get_config(MMPRETRAIN_CFG)  # the config file installed with mmpretrain
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)  # as Runner.build_model does
    cfg.model.backbone.norm_cfg = dict(type='BN')  # one process: SyncBN -> BN (the Runner would do the same)
    if case.get('cifar'):
        cfg.model.backbone = dict(type='ResNet_CIFAR', depth=18, norm_cfg=dict(type='BN'), zero_init_residual=True)
        cfg.model.neck.update(in_channels=512, num_layers=2)
    return cfg


def variant_config(name: str, case: dict) -> tuple[Config, str]:
    """The config of one variant and the registry scope it builds in."""
    if name == 'mmpretrain':
        return mmpretrain_config(case), 'mmpretrain'
    cfg = _load(case['fast'] if name == 'fast' else case['config'])
    if name == '+channels_last':
        cfg.model.data_preprocessor.update(type='SimSiamDataPreprocessor', channels_last=True)
    elif name == '+bf16':
        cfg.optim_wrapper.update(type='AutocastOptimWrapper', dtype='bfloat16')
    elif name in ('+foreach', '+fused'):
        cfg.optim_wrapper.optimizer[name[1:]] = True
    elif name == '+compile':
        cfg.compile = True
    return cfg, 'simsiam_mm'


COMPARED_KEYS = ('model', 'optim_wrapper', 'train_dataloader', 'compile')  # the config parts a variant may change


def describe_variant(name: str, case: dict) -> dict:
    """What ``--dry-run`` reports of one variant: its scope, model class, parameter shapes (sorted) and the parts of
    the config (:data:`COMPARED_KEYS`) where it differs from ``ours``."""
    cfg, scope = variant_config(name, case)
    with DefaultScope.overwrite_default_scope(scope):
        from mmengine.registry import MODELS
        model = MODELS.build(cfg.model)
    ours = variant_config('ours', case)[0]
    return dict(scope=scope, model=f'{type(model).__module__}.{type(model).__name__}',
                param_shapes=sorted(list(p.shape) for p in model.parameters()),
                changed=sorted(k for k in COMPARED_KEYS if cfg.get(k) != ours.get(k)))


def dry_run(args: argparse.Namespace) -> dict:
    """``--dry-run``: describe every selected variant of every case (no data, no timing) and write ``--out``."""
    results = {}
    for name in args.cases:
        variants = [v for v in VARIANTS if v in args.variants]
        results[name] = {v: describe_variant(v, CASES[name]) for v in variants}
        for v, d in results[name].items():
            print(f'{name} {v}: {d["model"]}, {sum(math.prod(s) for s in d["param_shapes"]):,} parameters, '
                  f'changes {", ".join(d["changed"]) or "nothing in the config"}')
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(dict(cases=results), indent=1))
    print(f'wrote {args.out}')
    return results


def uses_workers(name: str, args: argparse.Namespace) -> bool:
    """Whether the variant loads through worker processes (else in-process, with identical augmentation draws)."""
    return name in ('+loader', 'fast') or args.workers_for_all


def loader_config(case_cfg: Config, name: str, case: dict, args: argparse.Namespace) -> dict:
    """The case's dataset (CIFAR-10 images through OUR config's two-view pipeline at the case's resolution), the
    same for every variant; in-process loading unless the variant is about the loader."""
    dataset = copy.deepcopy(_load(case['config']).train_dataloader.dataset)
    pipeline = dataset.pipeline
    multiview = next((t for t in pipeline if t['type'] == 'MultiView'), None)
    if multiview is None:
        raise KeyError(f"train_throughput: {case['config']}: train_dataloader.dataset.pipeline has no MultiView")
    for view in multiview['transforms']:
        for t in view:
            if t['type'] == 'RandomResizedCrop':
                t['scale'] = case['resolution']
    num_images = max(args.num_images or 4 * case['batch'], case['batch'])  # drop_last: at least one batch
    loader = dict(
        batch_size=case['batch'], num_workers=0, persistent_workers=False, drop_last=True,
        sampler=dict(type='DefaultSampler', shuffle=True, seed=args.seed), collate_fn=dict(type='default_collate'),
        dataset=dict(type='CustomDataset', data_root=args.data_root, data_prefix='train', indices=num_images,
                     pipeline=pipeline))
    if uses_workers(name, args):
        own = case_cfg.get('train_dataloader') or {}  # the variant config's loader settings, with --workers workers
        loader.update(num_workers=args.workers, persistent_workers=own.get('persistent_workers', True),
                      prefetch_factor=own.get('prefetch_factor', 2),
                      pin_memory=bool(own.get('pin_memory', True)) and torch.cuda.is_available())
    return loader


# ---------------------------------------------------------------------------------------------------- variants


class Variant:
    """One model + optim wrapper + loader, stepped one iteration at a time."""

    def __init__(self, name: str, case: dict, args: argparse.Namespace, device: torch.device) -> None:
        self.name = name
        cfg, scope = variant_config(name, case)
        with DefaultScope.overwrite_default_scope(scope):
            from mmengine.registry import MODELS
            torch.manual_seed(args.seed)  # the same initial weights for every variant of ours
            model = MODELS.build(cfg.model)
            model.init_weights()
            model = revert_sync_batchnorm(model).to(device).train()
            self.optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        with DefaultScope.overwrite_default_scope('simsiam_mm'):  # our pipeline for every variant
            self.loader = Runner.build_dataloader(loader_config(cfg, name, case, args), seed=args.seed)
        if cfg.get('compile'):  # what mmengine's Runner._maybe_compile does with cfg.compile
            compile_cfg = {} if cfg.compile is True else dict(cfg.compile)
            model.train_step = torch.compile(model.train_step, **compile_cfg)
        self.model, self.scope, self.device = model, scope, device
        self.batch_size = case['batch']
        self.seed = args.seed
        self.data_on_device = args.data_on_device
        self.workers = uses_workers(name, args)
        self._cached = None
        self._it = iter(self.loader)
        self.times: list[dict] = []

    def _next(self, round_idx: int):
        if self.data_on_device:
            if self._cached is None:
                self._cached = _to_device(self._load(round_idx), self.device)
            return self._cached
        return self._load(round_idx)

    def _load(self, round_idx: int):
        if not self.workers:  # identical augmentation draws across the in-process variants
            random.seed(self.seed + round_idx)
            np.random.seed(self.seed + round_idx)
            torch.manual_seed(self.seed + round_idx)
        try:
            return next(self._it)
        except StopIteration:
            self._it = iter(self.loader)
            return next(self._it)

    def run_iter(self, round_idx: int, memory: 'MemoryMeter') -> dict:
        t0 = time.perf_counter()
        batch = self._next(round_idx)
        t1 = time.perf_counter()
        memory.start()
        with DefaultScope.overwrite_default_scope(self.scope):
            log_vars = self.model.train_step(batch, self.optim_wrapper)  # .item() inside: synchronises the device
        if self.device.type == 'cuda':
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        peak, rise = memory.stop()
        rec = dict(data_s=t1 - t0, step_s=t2 - t1, peak_mem_b=peak, step_mem_rise_b=rise,
                   loss=float(torch.as_tensor(log_vars['loss']).detach()))
        self.times.append(rec)
        return rec

    def saved_activation_bytes(self) -> int:
        """Bytes of the tensors autograd saves for the backward pass in one step (each storage counted once): the
        activation memory, which is what batch, resolution, dtype and layout change. One untimed step."""
        storages: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
            return t

        batch = self._next(10 ** 6 + 1)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
                DefaultScope.overwrite_default_scope(self.scope):
            self.model.train_step(batch, self.optim_wrapper)
        return sum(storages.values())

    def close(self) -> None:
        self._it = None
        self.loader = None


def _to_device(obj, device: torch.device):
    """``obj`` (a collated batch: dicts, lists, tensors) with every tensor on ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


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
        if self.device.type == 'cuda':
            peak = torch.cuda.max_memory_allocated()
        else:
            peak = self._status_kib('VmHWM') * 1024
        return peak, peak - self.before


# ---------------------------------------------------------------------------------------------------- FLOPs


def matmul_peak(device: torch.device, n: int = 2048, reps: int = 10) -> dict[str, float]:
    """Best of ``reps`` timings of an n x n ``torch.mm``, in FLOP/s, per dtype."""
    peaks = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        torch.mm(a, b)
        best = float('inf')
        for _ in range(reps):
            t = time.perf_counter()
            torch.mm(a, b)
            if device.type == 'cuda':
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        peaks[str(dtype).replace('torch.', '')] = 2 * n ** 3 / best
    return peaks


def step_flops(variant: Variant) -> int:
    """FLOPs of one training step (both views, forward and backward) counted by FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode
    batch = variant._next(10 ** 6)  # a batch of its own
    counter = FlopCounterMode(display=False)
    with counter, DefaultScope.overwrite_default_scope(variant.scope):
        variant.model.train_step(batch, variant.optim_wrapper)
    return counter.get_total_flops()


# ---------------------------------------------------------------------------------------------------- pipeline


def pipeline_check(case: dict, args: argparse.Namespace, n: int = 32) -> dict:
    """Decode once + augment twice (our pipeline) against decoding once per view: decodes counted and timed."""
    from mmpretrain.datasets import CustomDataset

    from simsiam_mm.registry import TRANSFORMS
    loader = loader_config(Config(), 'ours', case, args)
    pipeline = copy.deepcopy(loader['dataset']['pipeline'])
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
                ds = CustomDataset(data_root=args.data_root, data_prefix='train', indices=n, pipeline=pipe)
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


# ---------------------------------------------------------------------------------------------------- main


def summarize(variant: Variant, warmup: int, flops: int | None, peaks: dict) -> dict:
    kept = variant.times[warmup:]
    total = statistics.median(r['data_s'] + r['step_s'] for r in kept)
    step = statistics.median(r['step_s'] for r in kept)
    out = dict(images_per_s=variant.batch_size / total, iter_s=total,
               data_s=statistics.median(r['data_s'] for r in kept), step_s=step,
               peak_mem_gib=max(r['peak_mem_b'] for r in kept) / 2 ** 30,
               step_mem_rise_gib=max(r['step_mem_rise_b'] for r in kept) / 2 ** 30,
               loss_last=kept[-1]['loss'], rounds=variant.times)
    if flops:
        out['step_gflop'] = flops / 1e9
        out['achieved_gflops'] = flops / step / 1e9
        out.update({f'pct_{k}_peak': 100 * flops / step / v for k, v in peaks.items()})
    return out


def run_case(name: str, args: argparse.Namespace, device: torch.device, peaks: dict) -> dict:
    case = dict(CASES[name])
    case.update({k: getattr(args, k) for k in ('batch', 'resolution') if getattr(args, k)})
    names = list(args.variants)
    if name in args.ablation_cases:
        names += [s for s in SWITCHES if s != '+compile' and s not in names]
    names = [v for v in VARIANTS if v in names]  # fixed order
    variants = [Variant(v, case, args, device) for v in names]
    print(f'\n== {name}: {", ".join(names)} ({args.warmup} warm-up + {args.iters} rounds)', flush=True)
    flops = None
    if not args.no_flops:
        reference = next(v for v in variants if v.name in ('ours', 'mmpretrain'))
        flops = step_flops(reference)
    memory = MemoryMeter(device)
    for r in range(args.warmup + args.iters):
        order = variants[r % len(variants):] + variants[:r % len(variants)]  # ABC, BCA, CAB, ...
        line = []
        for v in order:
            rec = v.run_iter(r, memory)
            line.append(f'{v.name} {rec["data_s"] + rec["step_s"]:.2f}s')
        print(f'  round {r}{" (warm-up)" if r < args.warmup else ""}: ' + ', '.join(line), flush=True)
    result = dict(resolution=case['resolution'], batch=case['batch'], step_flops=flops,
                  variants={v.name: summarize(v, args.warmup, flops, peaks) for v in variants})
    for v in variants:
        if v.name != '+compile':  # dynamo would trace the hooks
            result['variants'][v.name]['saved_activations_gib'] = v.saved_activation_bytes() / 2 ** 30
    result['pipeline'] = pipeline_check(case, args)
    for v in variants:
        v.close()
    return result


def table(results: dict) -> str:
    lines = []
    for case, res in results['cases'].items():
        vs = res['variants']
        base = vs.get('mmpretrain', {}).get('images_per_s')
        ours = vs.get('ours', {}).get('images_per_s')
        lines += [f'\n{case} (batch {res["batch"]}, {res["resolution"]} px, {results["threads"]} threads; '
                  f'{res["step_flops"] / 1e9:.0f} GFLOP/step)' if res['step_flops'] else f'\n{case}',
                  '| variant | images/s | vs mmpretrain | vs ours | data s | step s | saved activations GiB '
                  '| peak RSS GiB | GFLOP/s | % fp32 peak | % bf16 peak |',
                  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
        for name, v in vs.items():
            ratio = f'{v["images_per_s"] / base:.2f}x' if base else '-'
            vs_ours = f'{v["images_per_s"] / ours:.2f}x' if ours else '-'
            fl = (f'{v["achieved_gflops"]:.0f} | {v["pct_float32_peak"]:.0f} | {v["pct_bfloat16_peak"]:.0f}'
                  if 'achieved_gflops' in v and 'pct_float32_peak' in v else '- | - | -')
            act = f'{v["saved_activations_gib"]:.2f}' if 'saved_activations_gib' in v else '-'
            lines.append(f'| {name} | {v["images_per_s"]:.2f} | {ratio} | {vs_ours} | {v["data_s"]:.3f} | '
                         f'{v["step_s"]:.3f} | {act} | {v["peak_mem_gib"]:.2f} | {fl} |')
        p = res['pipeline']
        lines.append('two-view pipeline: ' + '; '.join(
            f'{k}: {d["ms_per_image"]:.1f} ms/image, {d["decodes_per_image"]:.0f} decode(s)/image'
            for k, d in p.items()))
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import simsiam_mm  # noqa: F401  (registers our classes; imports mmpretrain's)
    MMLogger.get_instance('train_throughput', log_level='WARNING')  # quiet init_weights reports
    if args.dry_run:
        return dry_run(args)
    if not (Path(args.data_root) / 'train').is_dir():
        raise FileNotFoundError(f'train_throughput: --data-root {args.data_root} has no train/ folder of CIFAR-10 '
                                'class folders (see tools/data/prepare_cifar10.py)')
    torch.set_num_threads(args.threads)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    peaks = {} if args.no_flops else matmul_peak(device)
    results = dict(device=torch.cuda.get_device_name() if device.type == 'cuda' else platform.processor() or 'cpu',
                   cpu_count=os.cpu_count(), threads=args.threads, torch=torch.__version__,
                   started_utc=time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime()),
                   load_avg_start=os.getloadavg(), args=vars(args),
                   matmul_peak_gflops={k: v / 1e9 for k, v in peaks.items()}, cases={})
    if peaks:
        print('matmul peak (2048^2 torch.mm): ' + ', '.join(f'{k} {v / 1e9:.0f} GFLOP/s' for k, v in peaks.items()))
    for name in args.cases:
        results['cases'][name] = run_case(name, args, device, peaks)
        if peaks:  # the peak is re-measured after each case (the machine may be shared): keep the best seen
            again = matmul_peak(device)
            peaks.update({k: max(v, again[k]) for k, v in peaks.items()})
            results['matmul_peak_gflops'] = {k: v / 1e9 for k, v in peaks.items()}
            for res in results['cases'].values():  # percentages against the final (best) peak
                for v in res['variants'].values():
                    if 'achieved_gflops' in v:
                        v.update({f'pct_{k}_peak': 100 * v['achieved_gflops'] * 1e9 / p for k, p in peaks.items()})
    results['load_avg_end'] = os.getloadavg()
    results['finished_utc'] = time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())
    print('matmul peak, best measured: ' + ', '.join(f'{k} {v:.0f} GFLOP/s'
                                                  for k, v in results['matmul_peak_gflops'].items()))
    print(table(results))
    print(f'\nload average: start {results["load_avg_start"]}, end {results["load_avg_end"]}')
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f'wrote {args.out}')
    return results


if __name__ == '__main__':
    cli_main(main)()
