"""Two-view input pipeline throughput, images/s per core: mmpretrain's, ours before, ours now.

Pipelines (each one image in, two augmented views out, packed by ``PackInputs``):

    mmpretrain   mmpretrain 1.2.0's MoCo v2 two-view pipeline (``mmpretrain::_base_/datasets/imagenet_bs32_mocov2.py``:
                 ``LoadImageFromFile`` + ``MultiView``), built in scope mmpretrain; at 32 px the same transforms
                 with our CIFAR view settings (scale 32, no blur), as mmpretrain ships no CIFAR SimSiam pipeline
    before       our reference configs' pipeline (``configs/_base_/datasets/{imagenet,cifar10}_simsiam.py``:
                 ``SafeLoadImageFromFile`` + the same views)
    now          the ``*-fast-pipeline.py`` configs' pipeline (``simsiam_mm/datasets/fast_pipeline.py``)

Cases: ``224`` on ImageNet-sized JPEGs (``--fullsize-dir``; made from tinyimagenet10-dev with
``tools/data/make_fullsize_jpegs.py`` when absent: upsampled, so smoother and smaller than photographs, ~27 KB),
``224-photos`` on real full-size photographs (``--photo-dir``: the two COCO images of the downstream samples,
640x360 and 640x427, ~210 KB each, cycled: more costly to decode than ImageNet's ~110 KB average), and ``32`` on
CIFAR-10's 32x32 JPEGs. Everything runs in this one
process with one thread (torch, OpenCV), so a pipeline's images/s is its images/s per core, as one dataloader worker
would give. Rounds are interleaved (round r runs every pipeline over the same images, in an order rotated by r, each
after re-seeding the generators), the first ``--warmup`` rounds are dropped and the median of the rest is reported.

On a machine with CUDA it also measures end to end (``--e2e`` forces it, e.g. as a CPU dry run): the 224 px fast
path (``simsiam_resnet50_8xb32-coslr-100e_in1k-fast.py``'s model and optimizer) fed through a DataLoader with
``--workers`` workers by each pipeline ("loader on"), the same steps on one cached batch ("loader off"), and the
``-fast-deviceaug`` config (crop and flip on the CPU, colour augmentation batched on the device), with the GPU's
utilisation where ``torch.cuda.utilization`` can read it.

The documented run (docs/performance.md)::

    python tools/analysis/pipeline_throughput.py --out docs/performance_pipeline_cpu.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.hub import get_config
from mmengine.registry import DefaultScope

import simsiam_mm  # noqa: F401  (registers our transforms)
from simsiam_mm.errors import add_debug_flag, cli_main
from simsiam_mm.evaluation.speed import rotated, seed_all
from simsiam_mm.machine import machine_facts
from simsiam_mm.registry import TRANSFORMS

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get('SIMSIAM_MM_DATA', REPO.parent / 'shared' / 'data'))
MMPRETRAIN_PIPELINE = 'mmpretrain::_base_/datasets/imagenet_bs32_mocov2.py'
IN1K = dict(before='configs/simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py',
            now='configs/simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k-fast-pipeline.py')
CASES = {  # name: the configs, the output size
    '224': dict(IN1K, size=224),
    '224-photos': dict(IN1K, size=224),
    '32': dict(size=32, before='configs/simsiam/simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10.py',
               now='configs/simsiam/simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10-fast-pipeline.py'),
}
PIPELINES = ('mmpretrain', 'before', 'now')
E2E_CONFIG = 'configs/simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k-fast.py'
DEVICE_AUG_CONFIG = 'configs/simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k-fast-deviceaug.py'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--cases', nargs='+', default=list(CASES), choices=list(CASES))
    p.add_argument('--fullsize-dir', type=Path, default=REPO / 'work_dirs/fullsize_jpegs',
                   help='ImageNet-sized JPEGs (<class>/*.JPEG); made here when the folder does not exist')
    p.add_argument('--fullsize-src', type=Path, default=DATA / 'tinyimagenet10-dev/train',
                   help='real images the full-size JPEGs are made from')
    p.add_argument('--photo-dir', type=Path, default=DATA / 'downstream/coco', help='real photographs (*.jpg)')
    p.add_argument('--cifar-dir', type=Path, default=DATA / 'cifar10/train', help='CIFAR-10 <class>/*.jpg')
    p.add_argument('--num-images', type=int, default=100, help='images per round and case')
    p.add_argument('--rounds', type=int, default=5, help='measured rounds (median over them)')
    p.add_argument('--warmup', type=int, default=1, help='rounds dropped before measuring')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--e2e', action='store_true', help='measure end to end even without CUDA (a dry run)')
    p.add_argument('--e2e-batch', type=int, default=64, help='end-to-end batch size')
    p.add_argument('--e2e-iters', type=int, default=10, help='end-to-end measured iterations')
    p.add_argument('--workers', type=int, default=os.cpu_count(), help='end-to-end loader workers')
    p.add_argument('--out', type=Path, default=REPO / 'work_dirs/pipeline_throughput.json')
    add_debug_flag(p)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------------- pipelines


def pipeline_config(name: str, case: str) -> tuple[list, str]:
    """The pipeline (list of transform configs) of ``name`` for ``case``, and the scope it builds in."""
    if name != 'mmpretrain':
        return Config.fromfile(str(REPO / CASES[case][name])).train_dataloader.dataset.pipeline, 'simsiam_mm'
    pipeline = get_config(MMPRETRAIN_PIPELINE).train_pipeline
    if CASES[case]['size'] == 32:  # mmpretrain's transforms with our CIFAR view settings
        ours = Config.fromfile(str(REPO / CASES[case]['before'])).train_dataloader.dataset.pipeline
        multiview = next(t for t in ours if t['type'] == 'MultiView')
        next(t for t in pipeline if t['type'] == 'MultiView')['transforms'] = multiview['transforms']
    return pipeline, 'mmpretrain'


def build_pipeline(name: str, case: str) -> Compose:
    cfg, scope = pipeline_config(name, case)
    with DefaultScope.overwrite_default_scope(scope):
        if scope == 'mmpretrain':
            from mmpretrain.registry import TRANSFORMS as registry
        else:
            registry = TRANSFORMS
        return Compose([registry.build(t) for t in cfg])


def image_files(folder: Path, num: int) -> list[Path]:
    """``num`` JPEGs of ``folder``, spread over its classes; cycled when it holds fewer."""
    files = sorted(p for p in folder.rglob('*') if p.suffix.lower() in ('.jpg', '.jpeg'))
    if not files:
        raise FileNotFoundError(f'pipeline_throughput: no JPEGs under {folder}')
    step = max(len(files) // num, 1)
    return (files[::step] * (num // len(files[::step]) + 1))[:num]


def fullsize_jpegs(args: argparse.Namespace) -> Path:
    """``--fullsize-dir``, made with tools/data/make_fullsize_jpegs.py if it does not exist yet."""
    if not args.fullsize_dir.exists():
        subprocess.run([sys.executable, str(REPO / 'tools/data/make_fullsize_jpegs.py'), str(args.fullsize_src),
                        str(args.fullsize_dir), '--num', str(args.num_images)], check=True)
    return args.fullsize_dir


def check_output(name: str, out: dict, size: int) -> None:
    views = out['inputs']
    shapes = {tuple(v.shape) for v in views}
    if len(views) != 2 or shapes != {(3, size, size)} or any(v.dtype != torch.uint8 for v in views):
        raise RuntimeError(f'pipeline_throughput: pipeline {name} gave {len(views)} views {shapes}, expected two '
                           f'3x{size}x{size} uint8')


def time_case(case: str, files: list[Path], args: argparse.Namespace) -> dict:
    """Interleaved rounds over ``files``: seconds per image of every pipeline in every round."""
    pipelines = {name: build_pipeline(name, case) for name in PIPELINES}
    size = CASES[case]['size']
    for name, pipe in pipelines.items():
        check_output(name, pipe(dict(img_path=str(files[0]), sample_idx=0)), size)
    times = {name: [] for name in PIPELINES}
    for r in range(args.warmup + args.rounds):
        for name in rotated(PIPELINES, r):
            seed_all(args.seed + r)
            start = time.perf_counter()
            for i, path in enumerate(files):
                pipelines[name](dict(img_path=str(path), sample_idx=i))
            times[name].append((time.perf_counter() - start) / len(files))
    return times


def summarize(times: dict, warmup: int) -> dict:
    median = {name: statistics.median(t[warmup:]) for name, t in times.items()}
    return {name: dict(ms_per_image=1e3 * s, images_per_s_per_core=1 / s,
                       vs_mmpretrain=median['mmpretrain'] / s, vs_before=median['before'] / s,
                       ms_per_image_rounds=[1e3 * v for v in times[name]])
            for name, s in median.items()}


def table(results: dict) -> str:
    lines = ['| case | pipeline | ms/image | images/s per core | vs mmpretrain | vs before |',
             '|---|---|---:|---:|---:|---:|']
    for case, rows in results.items():
        for name, r in rows.items():
            lines.append(f"| {case} | {name} | {r['ms_per_image']:.2f} | {r['images_per_s_per_core']:.1f} | "
                         f"{r['vs_mmpretrain']:.2f}x | {r['vs_before']:.2f}x |")
    return '\n'.join(lines)


# ---------------------------------------------------------------------------------------------------- end to end


def end_to_end(folder: Path, args: argparse.Namespace) -> dict:
    """Fast-path ResNet-50 @224 training images/s fed by each pipeline (loader on), by the on-device colour
    augmentation config's (``-fast-deviceaug``: crop and flip on the CPU), and on one cached batch (loader off)."""
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    model, optim_wrapper = _train_model(E2E_CONFIG, device)
    results = {}
    for name in PIPELINES:
        batches = _batches(folder, build_pipeline(name, '224'), device, args)
        results[name] = _steps(model, optim_wrapper, lambda: next(batches), args)
    cached = next(batches)
    results['loader off'] = _steps(model, optim_wrapper, lambda: cached, args)
    model, optim_wrapper = _train_model(DEVICE_AUG_CONFIG, device)
    pipeline = Config.fromfile(str(REPO / DEVICE_AUG_CONFIG)).train_dataloader.dataset.pipeline
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        batches = _batches(folder, Compose([TRANSFORMS.build(t) for t in pipeline]), device, args)
    results['now + device aug'] = _steps(model, optim_wrapper, lambda: next(batches), args)
    return dict(device=machine_facts()['device'] if device.type == 'cuda' else 'cpu', batch=args.e2e_batch,
                workers=args.workers, cpus=os.cpu_count(), results=results)


def _train_model(config: str, device: torch.device) -> tuple:
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(str(REPO / config))
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        from simsiam_mm.registry import MODELS
        model = revert_sync_batchnorm(MODELS.build(cfg.model)).to(device).train()
        return model, build_optim_wrapper(model, cfg.optim_wrapper)


def _batches(folder: Path, pipeline: Compose, device: torch.device, args: argparse.Namespace):
    from mmengine.runner import Runner
    loader = dict(batch_size=args.e2e_batch, num_workers=args.workers, persistent_workers=args.workers > 0,
                  pin_memory=device.type == 'cuda', drop_last=True, collate_fn=dict(type='default_collate'),
                  sampler=dict(type='InfiniteSampler', shuffle=True, seed=args.seed),
                  dataset=dict(type='CustomDataset', data_root=str(folder), pipeline=[pipeline]))
    if args.workers > 0:
        loader['prefetch_factor'] = 4
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        return iter(Runner.build_dataloader(loader, seed=args.seed))


def _steps(model, optim_wrapper, next_batch, args: argparse.Namespace) -> dict:
    def sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    for _ in range(2):  # warm-up: workers start, cuDNN picks its algorithms
        model.train_step(next_batch(), optim_wrapper)
    sync()
    start, util = time.perf_counter(), []
    for _ in range(args.e2e_iters):
        model.train_step(next_batch(), optim_wrapper)
        util.append(gpu_utilization())
    sync()
    seconds = time.perf_counter() - start
    util = [u for u in util if u is not None]
    return dict(images_per_s=args.e2e_iters * args.e2e_batch / seconds,
                gpu_utilization_percent=statistics.mean(util) if util else None)


def gpu_utilization() -> float | None:
    try:
        return float(torch.cuda.utilization()) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - needs pynvml / NVML; the table says n/a then
        return None


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    folders = {'224': fullsize_jpegs(args) if '224' in args.cases or args.e2e else None, '224-photos': args.photo_dir,
               '32': args.cifar_dir}
    results = {case: summarize(time_case(case, image_files(folders[case], args.num_images), args), args.warmup)
               for case in args.cases}
    print(table(results))
    report = dict(command=' '.join(sys.argv), threads=1, num_images=args.num_images, rounds=args.rounds,
                  warmup=args.warmup, fullsize_dir=str(folders['224'] or ''), cases=results,
                  loadavg=os.getloadavg(), time=time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))
    if (torch.cuda.is_available() and folders['224']) or args.e2e:
        torch.set_num_threads(os.cpu_count() or 1)
        report['end_to_end'] = end_to_end(folders['224'], args)
        for name, r in report['end_to_end']['results'].items():
            print(f"end to end, {name}: {r['images_per_s']:.1f} images/s, GPU util {r['gpu_utilization_percent']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f'wrote {args.out}')
    return report


if __name__ == '__main__':
    cli_main(main)()
