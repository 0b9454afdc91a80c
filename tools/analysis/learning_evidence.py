"""Does SimSiam learn on this data, within minutes? Train a recipe config and read kNN against wall-clock time.

Given a short-budget config (``configs/simsiam/*-cpu.py``) and an ImageNet-style folder ``DATA/{train,val}/<class>/``,
this script

1. describes the data it actually reads (images and classes per split, the image sizes found, the resolution the
   network sees);
2. measures two random-initialisation baselines of the same network with the same kNN: after ``init_weights()``
   (the config's init: Kaiming, zero-init residual BN) and with PyTorch's default init (no ``init_weights()``); the
   higher one is *the* baseline;
3. trains the config with ``SimSiamRunner`` (what ``tools/train.py`` runs) and evaluates kNN ``--evals`` times
   during training and at the end;
4. writes ``OUT/<name>.{json,md,png}``: the table, and kNN top-1 against wall-clock minutes with both baselines drawn;
   the per-iteration series (loss, z_std·√d, training seconds) go to ``SERIES_DIR/<name>.csv`` (``--series-dir``,
   default OUT), which the JSON names; ``tools/analysis/plot_curves.py OUT/<name>.json`` redraws the figure.

kNN: weighted, k=20, T=0.07, global-average-pooled last stage (``simsiam_mm.evaluation.knn``), the **whole train
split** as the memory bank and the whole val split as queries, both at the training resolution (the config's
``knn_pipeline``). Minutes on the x axis are training time without the kNN pauses; the table also gives the wall time
of training with those pauses, and of the final kNN. ``--holdout-per-class N`` (tuning, or a folder with a train
split only) takes the queries from the train split instead: N images of every class, the rest is the bank.

    python tools/analysis/learning_evidence.py \\
        configs/simsiam/simsiam_resnet18-w16_1xb64-coslr-6k_imagefolder-64px-cpu.py \\
        --data-root ../shared/data/tinyimagenet10-dev --out-dir docs/short_recipe --series-dir results/short_recipe
"""
import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import torch
from mmengine.config import Config, DictAction

from simsiam_mm.datasets.folder import IMAGE_EXTENSIONS  # what the datasets read: the description counts the same
from simsiam_mm.errors import ConfigError, DataError, MissingPathError, add_debug_flag, cli_main, int_at_least
from simsiam_mm.machine import machine_description


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='a short-budget config (it must define knn_pipeline)')
    p.add_argument('--data-root', required=True, help='folder with <train-prefix>/ and <val-prefix>/ class folders')
    p.add_argument('--train-prefix', default='train')
    p.add_argument('--val-prefix', default=None, help='default: val/ if it exists, else test/')
    p.add_argument('--out-dir', default='work_dirs/learning_evidence', help='where <name>.{json,md,png} go')
    p.add_argument('--series-dir', default=None, help='where the per-iteration <name>.csv goes (default: --out-dir)')
    p.add_argument('--name', default=None, help='file name stem (default: <data folder>_seed<seed>)')
    p.add_argument('--work-dir', default=None, help='training work dir (default: work_dirs/learning_evidence/<name>)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--holdout-per-class', type=int_at_least(1), default=None,
                   help='for tuning, or a folder without a val split: kNN queries are this many train images per '
                        'class (the rest is the bank); no val split is read')
    p.add_argument('--evals', type=int_at_least(1), default=5,
                   help='kNN evaluations during training (the last at the end)')
    p.add_argument('--threads', type=int, default=os.cpu_count() or 1, help='torch threads (the loader uses none)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings, key=value')
    add_debug_flag(p)
    return p.parse_args(argv)


def list_split(root: Path) -> dict[str, list[Path]]:
    """class folder name -> image files under ``root`` (sorted)."""
    if not root.is_dir():
        raise MissingPathError(f'{root}: no such folder — --data-root must hold the split folders '
                               '(e.g. train/<class>/*.jpg and val/<class>/*.jpg).')
    return {c.name: sorted(f for f in c.rglob('*') if f.suffix.lower() in IMAGE_EXTENSIONS)
            for c in sorted(root.iterdir()) if c.is_dir()}


def describe_split(root: Path, sample: int = 200) -> dict:
    """Images and classes of a split, and the image sizes (w x h) found on an evenly spread sample of files."""
    from simsiam_mm.datasets.loading import image_size  # names a file that cannot be read
    classes = list_split(root)
    files = [f for fs in classes.values() for f in fs]
    step = max(1, len(files) // sample)
    sizes = Counter()
    for f in files[::step]:
        sizes['{}x{}'.format(*image_size(str(f)))] += 1
    return dict(path=str(root), images=len(files), classes=len(classes),
                per_class=dict(sorted(Counter({c: len(fs) for c, fs in classes.items()}).items())),
                sizes_in_sample=dict(sizes.most_common(5)), sampled_files=len(files[::step]))


@contextmanager
def quiet_init_log():
    """mmengine logs every parameter at INFO during ``init_weights()``: hold its logger at WARNING meanwhile."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def load_recipe(args: argparse.Namespace, work_dir: Path) -> Config:
    from simsiam_mm.apis.config import load_config, merge_options
    cfg = merge_options(load_config(args.config), args.cfg_options)
    if 'knn_pipeline' not in cfg:
        raise ConfigError(f'{args.config}: defines no knn_pipeline — this script evaluates kNN at the training '
                          'resolution with it; use a short-budget config (configs/simsiam/*-cpu.py).')
    dataset = cfg.train_dataloader.dataset
    inner = dataset.dataset if dataset.type == 'CachedDataset' else dataset
    inner.update(data_root=str(args.data_root), data_prefix=args.train_prefix)
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=args.seed)
    cfg.log_level = 'WARNING'
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    return cfg


def knn_datasets(cfg: Config, args: argparse.Namespace, val_prefix: str | None):
    """The kNN bank and queries at the training resolution: the train split and the val split, or, with
    ``val_prefix=None`` (``--holdout-per-class``), the train split alone."""
    from simsiam_mm.datasets import CachedDataset
    from simsiam_mm.registry import DATASETS
    split = dict(type='CustomDataset', data_root=str(args.data_root), pipeline=cfg.knn_pipeline, test_mode=True)
    bank = CachedDataset(DATASETS.build(dict(split, data_prefix=args.train_prefix)))
    return bank, val_prefix and CachedDataset(DATASETS.build(dict(split, data_prefix=val_prefix)))


def hold_out(bank, per_class: int, train_root: Path):
    """``per_class`` images of every class of ``bank`` as queries, the rest as the bank; refuses a class that would
    leave the bank (its features would be missing from every vote)."""
    from torch.utils.data import Subset

    from simsiam_mm.evaluation.knn import class_balanced_indices
    labels = bank.get_gt_labels()
    counts = Counter(int(c) for c in labels)
    small = [(bank.metainfo['classes'][c], n) for c, n in sorted(counts.items()) if n <= per_class]
    if small:
        name, n = small[0]
        raise DataError(f'{train_root / name}: class {name!r} has {n} image(s), so --holdout-per-class '
                        f'{per_class} would leave none of it in the kNN bank ({len(small)} class(es) too small) — '
                        f'give --holdout-per-class below {min(n for _, n in small)}.')
    held = set(class_balanced_indices(labels, per_class, seed=12345))
    return Subset(bank, [i for i in range(len(bank)) if i not in held]), Subset(bank, sorted(held))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from mmengine.registry import init_default_scope
    from mmengine.runner import set_random_seed

    import simsiam_mm  # noqa: F401  (registers our classes)
    from simsiam_mm.engine import IterationRecorder
    from simsiam_mm.engine.runner import SimSiamRunner
    from simsiam_mm.evaluation import KNNEvalHook
    from simsiam_mm.evaluation.knn import build_eval_loader, knn_eval
    from simsiam_mm.plots import learning_evidence
    from simsiam_mm.registry import MODELS
    from simsiam_mm.results import columns, series_entry, write_series
    torch.set_num_threads(args.threads)
    wall = time.perf_counter()
    root = Path(args.data_root)
    val_prefix = None if args.holdout_per_class else (
        args.val_prefix or ('val' if (root / 'val').is_dir() else 'test'))
    name = args.name or f'{root.resolve().name}_seed{args.seed}'
    work_dir = Path(args.work_dir or f'work_dirs/learning_evidence/{name}')
    data = dict(train=describe_split(root / args.train_prefix))
    if val_prefix:
        data['val'] = describe_split(root / val_prefix)
    cfg = load_recipe(args, work_dir)
    iters = cfg.train_cfg.max_iters
    if args.evals > iters:
        raise ConfigError(f'--evals {args.evals}: more kNN evaluations than the {iters} training iterations of '
                          f'{args.config} — give --evals {iters} or fewer.')
    init_default_scope(cfg.get('default_scope', 'simsiam_mm'))
    bank, queries = knn_datasets(cfg, args, val_prefix)
    if args.holdout_per_class:  # queries held out of the train split; no val split is read
        bank, queries = hold_out(bank, args.holdout_per_class, root / args.train_prefix)
        val_prefix = f'{args.train_prefix} (held-out {args.holdout_per_class}/class)'
        data['val'] = dict(images=len(queries), note='held out of the train split')
        data['train']['bank_images'] = len(bank)
    bank_loader, query_loader = build_eval_loader(bank), build_eval_loader(queries)

    baselines = {}
    for key in ('init_weights', 'pytorch_default'):
        set_random_seed(args.seed)
        model = MODELS.build(cfg.model)
        if key == 'init_weights':
            with quiet_init_log():
                model.init_weights()
        start = time.perf_counter()
        baselines[key] = dict(knn_eval(model, bank_loader, query_loader), seconds=time.perf_counter() - start)
        print(f'random init ({key}): kNN top1 {baselines[key]["top1"]:.2f}', flush=True)
    baseline_top1 = max(b['top1'] for b in baselines.values())

    runner = SimSiamRunner.from_cfg(cfg)
    recorder = IterationRecorder()  # VERY_LOW: runs before the kNN, so its clock leaves the kNN pauses out
    knn = KNNEvalHook(bank, queries, by_epoch=False, at=[round(iters * (i + 1) / args.evals)
                                                            for i in range(args.evals)], seed=args.seed)
    runner.register_hook(recorder)
    runner.register_hook(knn, priority='LOWEST')
    start = time.perf_counter()
    runner.train()
    train_wall = time.perf_counter() - start
    for h in knn.history:  # training minutes at each evaluation (the recorder's clock at that iteration)
        h['minutes'] = recorder.rows[h['iter'] - 1]['train_seconds'] / 60
    final = knn.history[-1]
    train_seconds = recorder.train_seconds
    batch = cfg.train_dataloader.batch_size
    results = dict(
        command=' '.join(['python', *sys.argv]) if argv is None else ' '.join(argv), config=args.config,
        cfg_options=args.cfg_options, seed=args.seed, machine=machine_description(args.threads), data=data,
        resolution=dict(cached=cfg.get('cache_size'), train_views=cfg.get('image_size')),
        baselines=baselines, baseline_top1=baseline_top1,
        baseline_kind=max(baselines, key=lambda k: baselines[k]['top1']), knn=knn.history,
        sec_per_iter=train_seconds / iters, train_minutes=train_seconds / 60,
        train_wall_minutes_with_knn=train_wall / 60, final_knn_seconds=final['eval_seconds'],
        budget_minutes=(train_seconds + final['eval_seconds']) / 60, final_top1=final['top1'],
        gain=final['top1'] - baseline_top1,
        knn_protocol=(f'{len(queries)} held-out train images vs the other {len(bank)}' if args.holdout_per_class
                      else f'{len(queries)} {val_prefix} images vs all {len(bank)} train images'),
        script_wall_minutes=(time.perf_counter() - wall) / 60)
    autocast = cfg.optim_wrapper.get('type') == 'AutocastOptimWrapper'
    precision = (f'{cfg.optim_wrapper.get("dtype", "bfloat16") if autocast else "float32"}'
                 f'{", channels-last" if cfg.model.data_preprocessor.get("channels_last") else ""}')
    results['setting'] = (
        f'{Path(args.config).name}, seed {args.seed}: {iters} it. x batch {batch} on {data["train"]["images"]} '
        f'{args.train_prefix} images of {root.name} ({data["train"]["classes"]} classes, '
        f'{"/".join(data["train"]["sizes_in_sample"])} px, cached at {cfg.get("cache_size")}, views '
        f'{cfg.get("image_size")} px, {precision}); kNN k=20 T=0.07: bank {len(bank)} train / queries '
        f'{data["val"]["images"]} {val_prefix} images at {cfg.get("image_size")} px')
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    series = columns(recorder.rows, dict(iter=None, loss=5, z_std_x_sqrt_d=4, train_seconds=3))
    csv_path = write_series(Path(args.series_dir or out) / f'{name}.csv', series)
    results.update(figure='learning_evidence', series=series_entry(csv_path, out))
    rank = next((h for h in runner.hooks if type(h).__name__ == 'RankMeHook'), None)
    rankme = None if rank is None or rank.diagnosis is None else dict(  # label-free verdict (docs/label_free.md)
        history=rank.history, diagnosis=rank.diagnosis.to_dict())
    if rankme is not None:
        results['rankme'] = rankme
    (out / f'{name}.json').write_text(json.dumps(results, indent=1) + '\n')
    learning_evidence(results, series, out / f'{name}.png')
    lines = [f'Command: `{results["command"]}`.', '', f'Setting: {results["setting"]}.', '',
             f'Machine: {results["machine"]}.', '',
             '| | kNN top-1 (%) | kNN top-5 (%) | minutes |', '|---|---:|---:|---:|']
    for key, label in (('init_weights', 'random init, `init_weights()`'),
                       ('pytorch_default', 'random init, PyTorch default')):
        b = baselines[key]
        lines.append(f'| {label} | {b["top1"]:.2f} | {b["top5"]:.2f} | - |')
    for h in knn.history:
        lines.append(f'| SimSiam, {h["iter"]} it. | {h["top1"]:.2f} | {h["top5"]:.2f} | {h["minutes"]:.1f} |')
    lines += ['', f'Gain over the strongest random init ({results["baseline_kind"]}, {baseline_top1:.2f}): '
              f'**{results["gain"]:+.2f}** points. {results["sec_per_iter"]:.3f} s per iteration; training '
              f'{results["train_minutes"]:.1f} min + final kNN {final["eval_seconds"] / 60:.1f} min = '
              f'{results["budget_minutes"]:.1f} min (training wall with the {len(knn.history)} kNN pauses: '
              f'{results["train_wall_minutes_with_knn"]:.1f} min; whole script: '
              f'{results["script_wall_minutes"]:.1f} min).']
    if rankme is not None:
        lines += ['', f'Label-free (RankMe on {rank.history[-1]["images"]} training images): '
                  f'{rank.diagnosis.summary()}']
    (out / f'{name}.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return results


if __name__ == '__main__':
    cli_main(main)()
