"""Training throughput of our SimSiam, plain and with each fast-path switch, against mmpretrain 1.2.0's SimSiam.

Every variant of a case is built in this one process and measured on identical inputs (the same CIFAR-10 images
through the same two-view pipeline, the same augmentation draws: the RNGs are re-seeded before each batch), the same
batch, resolution and thread count. Iterations are interleaved (round r runs one iteration of every variant, in an
order rotated by r: ABC, BCA, CAB, ...), so load from other processes on a shared machine hits every variant alike;
the first ``--warmup`` rounds are dropped and the median of the remaining ``--iters`` is reported.

Per variant (``simsiam_mm/evaluation/speed.py``): images/s (one image = two views through the encoder), median seconds
waiting for the batch (data) and in ``model.train_step`` (step), memory (bytes autograd saves for backward; peak: on
CPU the process's resident-set high-water mark, which counts every variant's model, on GPU ``max_memory_allocated``)
and the achieved FLOP/s of the step against the machine's float32 and bfloat16 ``torch.mm`` peak measured here. Also
checks that the two-view pipeline decodes each image once, timed against decoding once per view.

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

Quick look (minutes): ``--cases r50-64-b32 --iters 2 --warmup 1``; what would be compared, without data or timing:
``--dry-run`` (each variant's scope, model class, parameter shapes, config parts changed against ``ours``).
"""
import argparse
import copy
import json
import math
import os
import time
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.logging import MMLogger

from simsiam_mm.errors import add_debug_flag, cli_main
from simsiam_mm.evaluation.speed import MemoryMeter, TrainSteps, decode_once_check, describe_model, rotated
from simsiam_mm.machine import machine_facts, matmul_peak

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
    ours = variant_config('ours', case)[0]
    return dict(describe_model(cfg.model, scope), changed=sorted(k for k in COMPARED_KEYS if cfg.get(k) != ours.get(k)))


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


def uses_workers(name: str, args: argparse.Namespace) -> bool:  # else in-process, identical augmentation draws
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


def build_variant(name: str, case: dict, args: argparse.Namespace, device: torch.device) -> TrainSteps:
    """One variant's model, optim wrapper and loader (our pipeline for every variant), the same initial weights for
    every variant of ours; in-process variants load with identical augmentation draws (re-seeded per round)."""
    cfg, scope = variant_config(name, case)
    steps = TrainSteps.build(cfg.model, cfg.optim_wrapper, loader_config(cfg, name, case, args), scope=scope,
                             device=device, seed=args.seed, compile_cfg=cfg.get('compile'),
                             reseed=not uses_workers(name, args), data_on_device=args.data_on_device)
    steps.name, steps.batch_size = name, case['batch']
    return steps


def summarize(variant: TrainSteps, warmup: int, flops: int | None) -> dict:
    """The variant's medians (:meth:`TrainSteps.summary`) and achieved FLOP/s (main adds the % of the peaks)."""
    out = variant.summary(warmup, variant.batch_size)
    if flops:
        out.update(step_gflop=flops / 1e9, achieved_gflops=flops / out['step_s'] / 1e9)
    return out


def run_case(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    case = dict(CASES[name])
    case.update({k: getattr(args, k) for k in ('batch', 'resolution') if getattr(args, k)})
    names = list(args.variants)
    if name in args.ablation_cases:
        names += [s for s in SWITCHES if s != '+compile' and s not in names]
    names = [v for v in VARIANTS if v in names]  # fixed order
    variants = [build_variant(v, case, args, device) for v in names]
    print(f'\n== {name}: {", ".join(names)} ({args.warmup} warm-up + {args.iters} rounds)', flush=True)
    flops = None if args.no_flops else next(v for v in variants if v.name in ('ours', 'mmpretrain')).flops()
    memory = MemoryMeter(device)
    for r in range(args.warmup + args.iters):
        recs = {v.name: v.step(r, memory) for v in rotated(variants, r)}  # ABC, BCA, CAB, ...
        line = [f'{n} {rec["data_s"] + rec["step_s"]:.2f}s' for n, rec in recs.items()]
        print(f'  round {r}{" (warm-up)" if r < args.warmup else ""}: ' + ', '.join(line), flush=True)
    result = dict(resolution=case['resolution'], batch=case['batch'], step_flops=flops,
                  variants={v.name: summarize(v, args.warmup, flops) for v in variants})
    for v in variants:
        if v.name != '+compile':  # dynamo would trace the hooks
            result['variants'][v.name]['saved_activations_gib'] = v.saved_activation_bytes() / 2 ** 30
    result['pipeline'] = decode_once_check(loader_config(Config(), 'ours', case, args)['dataset']['pipeline'],
                                           args.data_root)
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
        raise FileNotFoundError(f'train_throughput: --data-root {args.data_root} has no train/ folder of class '
                                'folders (see tools/data/prepare_cifar10.py)')
    torch.set_num_threads(args.threads)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    peaks = {} if args.no_flops else matmul_peak(device)
    results = dict(**machine_facts(args.threads), started_utc=time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime()),
                   load_avg_start=os.getloadavg(), args=vars(args),
                   matmul_peak_gflops={k: v / 1e9 for k, v in peaks.items()}, cases={})
    if peaks:
        print('matmul peak (2048^2 torch.mm): ' + ', '.join(f'{k} {v / 1e9:.0f} GFLOP/s' for k, v in peaks.items()))
    for name in args.cases:
        results['cases'][name] = run_case(name, args, device)
        if peaks:  # the peak is re-measured after each case (the machine may be shared): keep the best seen
            peaks = {k: max(v, again) for (k, v), again in zip(peaks.items(), matmul_peak(device).values())}
    results['matmul_peak_gflops'] = {k: v / 1e9 for k, v in peaks.items()}
    for v in (v for res in results['cases'].values() for v in res['variants'].values() if 'achieved_gflops' in v):
        v.update({f'pct_{k}_peak': 100 * v['achieved_gflops'] * 1e9 / p for k, p in peaks.items()})  # best peak
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
