"""Weighted kNN accuracy (k=20, T=0.07) of a checkpoint's frozen backbone on a labelled train/val folder pair.

Features: ``model.extract_feat`` (the backbone's stage outputs), stage ``--stage`` (default the last), global-average
pooled and l2-normalised; the train split is the memory bank, the val split is classified by exp(sim/T)-weighted
votes of its k nearest neighbours (Wu et al. 2018; mmselfsup). Prints top-1/top-5 and, with ``--out``, writes JSON.

Examples::

    # a SimSiam checkpoint on CIFAR-10 (class folders data/cifar10/{train,test}/<class>/*.jpg)
    python tools/analysis/knn_eval.py configs/simsiam/simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10.py \\
        work_dirs/simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10/epoch_800.pth --data-root data/cifar10
    # the same network at random initialisation (the baseline any pretraining must beat)
    python tools/analysis/knn_eval.py CONFIG random --data-root data/cifar10
    # ImageNet-style data: resize the short side to 256 and center-crop 224
    python tools/analysis/knn_eval.py CONFIG CKPT --data-root data/imagenet --val-prefix val --resize 256 --crop 224
"""
import argparse
import json
import time
from pathlib import Path

from mmengine.config import DictAction

from simsiam_mm.apis.config import load_config, merge_options
from simsiam_mm.errors import MissingPathError, WorkDirError, add_debug_flag, cli_main, int_at_least


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='the pretraining config the checkpoint was trained with')
    p.add_argument('checkpoint', help="checkpoint path, or 'random' for the randomly initialised model")
    p.add_argument('--data-root', required=True, help='folder holding the labelled train and val class folders')
    p.add_argument('--train-prefix', default='train', help='memory-bank split, relative to --data-root')
    p.add_argument('--val-prefix', default='test', help='evaluated split, relative to --data-root')
    every = int_at_least(1, 'leave the option out to use every image')
    p.add_argument('--num-per-class-train', type=every, default=None, help='class-balanced subset of the bank')
    p.add_argument('--num-per-class-val', type=every, default=None, help='class-balanced subset of the val split')
    p.add_argument('--k', type=int_at_least(1), default=20)
    p.add_argument('--temperature', type=float, default=0.07)
    p.add_argument('--stage', type=int, default=-1, help='index into the backbone outputs (-1: last)')
    p.add_argument('--resize', type=int_at_least(1), default=None,
                   help='resize the short side to this before --crop (needed when the images differ in size)')
    p.add_argument('--crop', type=int_at_least(1), default=None, help='center crop size')
    p.add_argument('--batch-size', type=int_at_least(1), default=256)
    p.add_argument('--num-workers', type=int_at_least(0), default=2)
    p.add_argument('--seed', type=int, default=0, help='seed of the subsets (and of the random initialisation)')
    p.add_argument('--out', type=Path, help='write the result as JSON here (its folder is created)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings (key=value)')
    add_debug_flag(p)
    return p.parse_args(argv)


def check_split_folders(data_root: Path, prefixes: tuple[str, ...]) -> None:
    """Refuse a --data-root (or split prefix) that is not a folder of class folders, naming the option to fix."""
    if not data_root.is_dir():
        what = 'is a file, not a folder' if data_root.exists() else 'does not exist'
        raise MissingPathError(f'{data_root}: --data-root {what} — give the folder holding the '
                               f'{" and ".join(prefixes)} class folders.')
    for prefix in prefixes:
        if not (data_root / prefix).is_dir():
            raise MissingPathError(f'{data_root / prefix}: split folder {prefix!r} is not a folder under --data-root '
                                   '(expected <class>/<image> folders) — check --train-prefix / --val-prefix.')


def prepare_out(out: Path) -> None:
    """Create ``--out``'s folder before any work, and refuse a path that is a folder."""
    if out.is_dir():
        raise WorkDirError(f'{out}: --out is a folder — give a file path, e.g. {out / "knn.json"}.')
    out.parent.mkdir(parents=True, exist_ok=True)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import simsiam_mm  # noqa: F401  (registers our classes; first, so its warning filters apply to the config read)
    cfg = load_config(args.config)
    if args.cfg_options:
        merge_options(cfg, args.cfg_options)
    data_root = Path(args.data_root)
    check_split_folders(data_root, (args.train_prefix, args.val_prefix))
    if args.out:
        prepare_out(args.out)
    from simsiam_mm.evaluation.knn import build_eval_loader, knn_eval
    from simsiam_mm.evaluation.model import build_frozen_model
    model = build_frozen_model(cfg, args.checkpoint, args.seed)

    pipeline = [dict(type='SafeLoadImageFromFile', skip_corrupt=False)]  # a bad file is named, never skipped
    if args.resize:
        pipeline.append(dict(type='ResizeEdge', scale=args.resize, edge='short', backend='pillow'))
    if args.crop:
        pipeline.append(dict(type='CenterCrop', crop_size=args.crop))
    pipeline.append(dict(type='PackInputs'))
    kw = dict(batch_size=args.batch_size, num_workers=args.num_workers, seed=args.seed)
    dataset = dict(type='CustomDataset', data_root=str(data_root), pipeline=pipeline)
    train_loader = build_eval_loader(dict(dataset, data_prefix=args.train_prefix), args.num_per_class_train, **kw)
    val_loader = build_eval_loader(dict(dataset, data_prefix=args.val_prefix), args.num_per_class_val, **kw)
    start = time.perf_counter()
    result = knn_eval(model, train_loader, val_loader, k=args.k, temperature=args.temperature, stage=args.stage,
                      progress=True)
    result.update(checkpoint=args.checkpoint, config=args.config, k=args.k, temperature=args.temperature,
                  stage=args.stage, num_train=len(train_loader.dataset), num_val=len(val_loader.dataset),
                  seconds=round(time.perf_counter() - start, 1))
    print(f'kNN (k={args.k}, T={args.temperature}, stage {args.stage}) {args.checkpoint}: '
          f'top1 {result["top1"]:.2f}  top5 {result["top5"]:.2f}  '
          f'(bank {result["num_train"]} {args.train_prefix} / {result["num_val"]} {args.val_prefix} images, '
          f'{result["seconds"]} s)')
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    cli_main(main)()
