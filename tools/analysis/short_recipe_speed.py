"""Seconds per iteration of a short CPU recipe, against the per-sample pipeline it replaces, in one run.

Every variant trains the recipe's model (same batch, same views' size, same optimizer) for ``--iters`` timed
iterations after ``--warmup``; what differs is where the two views are made and how the cores are used:

    pipeline, 1 worker, 1 thread   the views made per sample by mmpretrain transforms (RandomResizedCrop, ColorJitter
                                   p=0.8, RandomGrayscale, RandomFlip: the recipe's augmentation) in one loader worker,
                                   the network on one torch thread (the earlier CPU recipe's setting)
    pipeline, 1 worker, 2 threads  the same, the network on two threads (the worker then competes with them)
    cached, batched, 2 threads     images in memory (CachedDataset), views made batched in the data preprocessor,
                                   no loader worker, float32, contiguous (NCHW) activations
    + channels_last                the same with NHWC activations
    + bf16 autocast                and under bfloat16 autocast (float32 master weights): the recipe

Variants run one after the other and the machine may be shared: compare the ratios of one run, not the seconds of
two. Writes a markdown table (and ``--out`` JSON).

    python tools/analysis/short_recipe_speed.py \\
        configs/simsiam/simsiam_resnet18-w16_1xb64-coslr-6k_imagefolder-64px-cpu.py \\
        --data-root ../shared/data/tinyimagenet10-dev --out docs/short_recipe/speed.json
"""
import argparse
import copy
import json
import sys
from pathlib import Path

import torch

from simsiam_mm.errors import add_debug_flag, cli_main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='a short-budget recipe config (configs/simsiam/*-cpu.py)')
    p.add_argument('--data-root', required=True, help='folder with a train/ split of class folders')
    p.add_argument('--iters', type=int, default=30, help='timed iterations per variant')
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--out', default=None, help='JSON file for the table')
    add_debug_flag(p)
    return p.parse_args(argv)


def per_sample_loader(cfg, data_root: str, image_size: int) -> dict:
    """The recipe's augmentation as a per-sample mmpretrain pipeline over the same folder, one loader worker (the
    views its ``BatchAugDataPreprocessor`` makes, as :meth:`~BatchAugDataPreprocessor.per_sample_views` writes them)."""
    from simsiam_mm.registry import MODELS
    view = MODELS.build(copy.deepcopy(cfg.model.data_preprocessor)).per_sample_views(image_size)
    return dict(batch_size=cfg.train_dataloader.batch_size, num_workers=1, persistent_workers=True, drop_last=True,
                sampler=dict(type='DefaultSampler', shuffle=True), collate_fn=dict(type='default_collate'),
                dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train', pipeline=[
                    dict(type='LoadImageFromFile'), dict(type='MultiView', num_views=2, transforms=[view]),
                    dict(type='PackInputs')]))


def variants(cfg, data_root: str) -> dict[str, tuple[dict, dict, dict, int]]:
    """name -> (model cfg, loader cfg, optim_wrapper cfg, threads), from the per-sample pipeline to the recipe."""
    recipe_loader = copy.deepcopy(cfg.train_dataloader)
    recipe_loader.dataset.dataset.data_root = data_root
    recipe_loader.sampler = dict(type='DefaultSampler', shuffle=True)
    fp32 = {k: v for k, v in cfg.optim_wrapper.items() if k not in ('type', 'dtype', 'device_type')}
    fp32['type'] = 'OptimWrapper'
    bf16 = dict(fp32, type='AutocastOptimWrapper', dtype='bfloat16')
    contiguous, channels_last = copy.deepcopy(cfg.model), copy.deepcopy(cfg.model)
    contiguous.data_preprocessor.channels_last = False
    channels_last.data_preprocessor.channels_last = True
    plain = copy.deepcopy(cfg.model)
    plain.data_preprocessor = dict(type='SimSiamDataPreprocessor', mean=plain.data_preprocessor.mean,
                                   std=plain.data_preprocessor.std, to_rgb=True)
    pipeline = per_sample_loader(cfg, data_root, cfg.image_size)
    return {
        'pipeline, 1 worker, 1 thread': (plain, pipeline, fp32, 1),
        'pipeline, 1 worker, 2 threads': (plain, pipeline, fp32, 2),
        'cached, batched, 2 threads': (contiguous, recipe_loader, fp32, 2),
        '+ channels_last': (channels_last, recipe_loader, fp32, 2),
        '+ bf16 autocast': (channels_last, recipe_loader, bf16, 2),
    }


def measure(model_cfg, loader_cfg, optim_cfg, threads: int, iters: int, warmup: int) -> dict:
    from simsiam_mm.evaluation.speed import TrainSteps
    torch.set_num_threads(threads)
    steps = TrainSteps.build(copy.deepcopy(model_cfg), copy.deepcopy(optim_cfg), copy.deepcopy(loader_cfg),
                             init_weights=False)
    records = [steps.step(i) for i in range(warmup + iters)]
    seconds = sorted(r['data_s'] + r['step_s'] for r in records[warmup:])
    return dict(threads=threads, median_s=seconds[len(seconds) // 2], mean_s=sum(seconds) / len(seconds))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from mmengine.registry import init_default_scope

    import simsiam_mm  # noqa: F401  (registers our classes)
    from simsiam_mm.apis.config import load_config
    cfg = load_config(args.config)
    init_default_scope(cfg.get('default_scope', 'simsiam_mm'))
    batch = cfg.train_dataloader.batch_size
    rows = {}
    for name, (model_cfg, loader_cfg, optim_cfg, threads) in variants(cfg, args.data_root).items():
        rows[name] = measure(model_cfg, loader_cfg, optim_cfg, threads, args.iters, args.warmup)
        print(f'{name}: {rows[name]["median_s"]:.3f} s/it', flush=True)
    base = rows['pipeline, 1 worker, 1 thread']['median_s']
    command = ['python', *(sys.argv if argv is None else ['tools/analysis/short_recipe_speed.py', *argv])]
    lines = [f'`{" ".join(command)}`'
             f' — batch {batch}, {cfg.image_size} px views, median of {args.iters} iterations after {args.warmup}',
             '', '| variant | s/it | images/s | speed-up |', '|---|---:|---:|---:|']
    for name, r in rows.items():
        lines.append(f'| {name} | {r["median_s"]:.3f} | {batch / r["median_s"]:.0f} | {base / r["median_s"]:.2f}x |')
    print('\n'.join(lines))
    result = dict(config=args.config, data_root=args.data_root, batch=batch, rows=rows, table='\n'.join(lines))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    cli_main(main)()
