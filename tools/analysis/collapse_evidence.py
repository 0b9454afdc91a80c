"""Evidence on real CIFAR-10 that stop-gradient is what keeps our SimSiam from collapsing (paper Fig. 2, Table 1).

Whether a recipe *learns* on a dataset, against the strongest random-init baseline and the clock, is
``tools/analysis/learning_evidence.py`` with a ``configs/simsiam/*-cpu.py`` recipe.

Pretrains the CIFAR-10 recipe (``configs/simsiam/simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10.py``: ResNet-18
CIFAR variant, 2-layer projector, predictor with a fixed lr, the same augmentations) cut to a CPU budget, twice from
the same seed (same initial weights, same batches):

    (b) ``simsiam``     our SimSiam (stop-gradient on),
    (c) ``no_stopgrad`` the same with ``model.head.stop_gradient=False`` (paper Table 1 / Fig. 2: collapses),

and reads, with :class:`KNNEvalHook` every ``--eval-interval`` iterations, the weighted kNN top-1 (k=20, T=0.07,
avg-pooled last stage) on a class-balanced subset of the CIFAR-10 test split against a class-balanced memory bank from
the train split. (a) ``random init`` is the kNN of the shared initial weights (the hook's evaluation before the first
iteration). Writes ``<out>/collapse_evidence.{md,json,png}``: the table and loss, z_std*sqrt(d) and kNN against the
iteration for the three; the per-iteration series go to ``<series-dir>/collapse_evidence_<run>.csv`` (default: the out
dir), which the JSON names (``tools/analysis/plot_curves.py <out>/collapse_evidence.json`` redraws the figure).

The documented run (docs/evaluation.md: 16 minutes on 2 shared CPU cores; the defaults are the short-budget recipe
chosen there by measurement: width 16, batch 32, lr 0.5 with 50 warm-up iterations, 1,200 iterations)::

    nice -n 5 python tools/analysis/collapse_evidence.py --data-root ../shared/data/cifar10 --out-dir docs \
        --series-dir results/collapse_evidence
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from simsiam_mm.errors import add_debug_flag, cli_main
from simsiam_mm.machine import machine_description

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs/simsiam/simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10.py'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data-root', default='data/cifar10', help='folder with train/ and test/ class folders')
    p.add_argument('--out-dir', default='docs', help='where the table (md, json) and plot (png) go')
    p.add_argument('--series-dir', default=None,
                   help='where the per-iteration collapse_evidence_<run>.csv go (default: --out-dir)')
    p.add_argument('--work-dir', default='work_dirs/collapse_evidence')
    p.add_argument('--iters', type=int, default=1200, help='training iterations per run')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--lr', type=float, default=0.5, help='peak lr of the encoder (predictor: fixed at this lr)')
    p.add_argument('--weight-decay', type=float, default=5e-4)
    p.add_argument('--warmup', type=int, default=50, help='linear warm-up iterations, then cosine to 0')
    p.add_argument('--width', type=int, default=16, help='ResNet-18 base width (64 = the real ResNet-18)')
    p.add_argument('--train-images', type=int, default=None, help='class-balanced pretraining subset (per class)')
    p.add_argument('--eval-interval', type=int, default=200, help='kNN every N iterations (0: no kNN at all)')
    p.add_argument('--bank-per-class', type=int, default=300, help='kNN memory bank: train images per class')
    p.add_argument('--test-per-class', type=int, default=200, help='kNN queries: test images per class')
    p.add_argument('--runs', nargs='+', default=['simsiam', 'no_stopgrad'], choices=['simsiam', 'no_stopgrad'])
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-workers', type=int, default=1)
    p.add_argument('--threads', type=int, default=1,
                   help='torch threads; 1 avoids oversubscription on a shared 2-core machine (measured 5x faster)')
    add_debug_flag(p)
    return p.parse_args(argv)


def build_cfg(args: argparse.Namespace, run: str) -> Config:
    cfg = Config.fromfile(str(CONFIG))
    cfg.work_dir = str(Path(args.work_dir) / run)
    cfg.randomness = dict(seed=args.seed)
    cfg.log_level = 'WARNING'
    cfg.model.backbone.update(norm_cfg=dict(type='BN'), base_channels=args.width, stem_channels=args.width)
    cfg.model.neck.update(in_channels=8 * args.width, norm_cfg=dict(type='BN1d'))
    cfg.model.head.predictor.norm_cfg = dict(type='BN1d')
    cfg.model.head.stop_gradient = run == 'simsiam'
    loader = cfg.train_dataloader
    loader.update(batch_size=args.batch_size, num_workers=args.num_workers, persistent_workers=args.num_workers > 0)
    loader.dataset.update(data_root=str(args.data_root), data_prefix='train')
    if args.train_images is not None:
        from simsiam_mm.evaluation.knn import class_balanced_indices
        from simsiam_mm.registry import DATASETS
        labels = DATASETS.build(dict(type='CustomDataset', data_root=str(args.data_root), data_prefix='train',
                                     pipeline=[])).get_gt_labels()
        loader.dataset.indices = class_balanced_indices(labels, args.train_images, args.seed)
    cfg.optim_wrapper.optimizer.update(lr=args.lr, weight_decay=args.weight_decay)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=args.iters)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=args.warmup),
        dict(type='CosineAnnealingLR', T_max=args.iters - args.warmup, by_epoch=False, begin=args.warmup,
             end=args.iters),
    ]
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=args.iters, by_epoch=False)
    knn_data = dict(type='CustomDataset', data_root=str(args.data_root),
                    pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    cfg.custom_hooks = [dict(type='CollapseMonitorHook', threshold=0.1, patience=20)]
    if args.eval_interval > 0:
        cfg.custom_hooks.append(dict(
            type='KNNEvalHook', interval=args.eval_interval, by_epoch=False, before_train=run == args.runs[0],
            train_dataset=dict(knn_data, data_prefix='train'), val_dataset=dict(knn_data, data_prefix='test'),
            num_per_class_train=args.bank_per_class, num_per_class_val=args.test_per_class, seed=args.seed))
    return cfg


def train(cfg: Config) -> tuple[list[dict], list[dict], float]:
    from simsiam_mm.engine import IterationRecorder
    runner = Runner.from_cfg(cfg)
    recorder = IterationRecorder()
    runner.register_hook(recorder)
    start = time.perf_counter()
    runner.train()
    knn_hook = next((h for h in runner.hooks if type(h).__name__ == 'KNNEvalHook'), None)
    return recorder.rows, knn_hook.history if knn_hook else [], time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import simsiam_mm  # noqa: F401  (registers our classes)
    from simsiam_mm.plots import collapse_evidence
    from simsiam_mm.results import columns, read_series, series_entry, write_series
    out = Path(args.out_dir)
    series_dir = Path(args.series_dir or out)
    torch.set_num_threads(args.threads)
    results: dict = dict(args=vars(args), command=' '.join(['python', *sys.argv]) if argv is None else argv,
                         machine=machine_description(), runs={})
    wall = time.perf_counter()
    for run in args.runs:
        cfg = build_cfg(args, run)
        rows, knn, seconds = train(cfg)
        if knn and knn[0]['iter'] == 0:
            results['random_init'] = knn.pop(0)
        last = rows[-1]
        csv_path = write_series(series_dir / f'collapse_evidence_{run}.csv',
                                columns(rows, dict(iter=None, loss=5, z_std_x_sqrt_d=4, sec=4)))
        results['runs'][run] = dict(knn=knn, seconds=seconds, series=series_entry(csv_path, out),
                                    final={k: last[k] for k in ('iter', 'loss', 'z_std_x_sqrt_d')})
        print(f'{run}: {seconds:.0f} s, final loss {last["loss"]:.3f}, z_std*sqrt(d) {last["z_std_x_sqrt_d"]:.3f}, '
              f'kNN {knn[-1] if knn else None}', flush=True)
    results['wall_seconds'] = time.perf_counter() - wall
    from simsiam_mm.registry import DATASETS
    n_images = len(DATASETS.build(dict(type='CustomDataset', data_root=str(args.data_root), data_prefix='train',
                                       pipeline=[])))
    n_train = (f'{args.train_images * 10} class-balanced' if args.train_images
               else f'all {n_images:,}') + f' train images of {args.data_root}'
    results['setting'] = (
        f'ResNet-18-CIFAR (width {args.width}), {args.iters} iters x batch {args.batch_size} on {n_train}, '
        f'lr {args.lr} (warm-up {args.warmup}, cosine), wd {args.weight_decay}; kNN k=20 T=0.07: bank '
        f'{args.bank_per_class * 10} train / queries {args.test_per_class * 10} test images (class-balanced)')
    results['figure'] = 'collapse_evidence'
    out.mkdir(parents=True, exist_ok=True)
    (out / 'collapse_evidence.json').write_text(json.dumps(results, indent=1))
    collapse_evidence(results, {run: read_series(series_dir / f'collapse_evidence_{run}.csv')
                                for run in results['runs']}, out / 'collapse_evidence.png')
    lines = [f'Command: `{results["command"]}`.', f'Setting: {results["setting"]}.',
             f'Machine: {results["machine"]}. Wall time of the whole script: {results["wall_seconds"] / 60:.1f} min.',
             '',
             '| run | kNN top-1 (%) | kNN top-5 (%) | final loss | final z_std·√d | train time (s) |',
             '|---|---|---|---|---|---|']
    if 'random_init' in results:
        r = results['random_init']
        lines.append(f'| (a) random init | {r["top1"]:.1f} | {r["top5"]:.1f} | - | - | 0 |')
    for run, name in (('simsiam', '(b) SimSiam'), ('no_stopgrad', '(c) SimSiam, no stop-gradient')):
        if run in results['runs'] and results['runs'][run]['knn']:
            r = results['runs'][run]
            last, knn = r['final'], r['knn'][-1]
            lines.append(f'| {name} | {knn["top1"]:.1f} | {knn["top5"]:.1f} | {last["loss"]:.3f} | '
                         f'{last["z_std_x_sqrt_d"]:.3f} | {r["seconds"]:.0f} |')
    (out / 'collapse_evidence.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return results


if __name__ == '__main__':
    cli_main(main)()
