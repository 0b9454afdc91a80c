"""VOC07 linear-SVM (and low-shot SVM) classification mAP of a checkpoint's frozen features of any stage.

Protocol of Goyal et al. 2019 / mmselfsup (see ``simsiam_mm/evaluation/svm.py``): stage ``--stage`` in 1..5
(feature1 = the stem before the max-pool, feature2..5 = res2..res5) of 256-resize/224-center-crop images, adaptive
average-pooled to 12/6/4/3/2 px (~9k dims for ResNet-50), l2-normalised; one LinearSVC per class on trainval with the
cost picked by 3-fold cross-validation, mean AP over the 20 classes on test. ``--low-shot`` adds k = 1..96 positives
per class with ``--draws`` random draws (mean mAP reported at the best cost).

Examples::

    python tools/analysis/voc_svm.py configs/simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py CKPT \\
        --voc-root data/VOCdevkit/VOC2007 --stage 5
    python tools/analysis/voc_svm.py CONFIG CKPT --voc-root data/VOCdevkit/VOC2007 --stage 4 --low-shot --draws 5
"""
import argparse
import json
import math
import time
from pathlib import Path

from mmengine.config import Config, DictAction

from simsiam_mm.engine.config_check import load_config
from simsiam_mm.errors import ConfigError, add_debug_flag, cli_main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='the pretraining config the checkpoint was trained with')
    p.add_argument('checkpoint', help="checkpoint path, or 'random' for the randomly initialised model")
    p.add_argument('--voc-root', required=True, help='VOCdevkit/VOC2007 (ImageSets/Main, Annotations, JPEGImages)')
    p.add_argument('--train-split', default='trainval')
    p.add_argument('--test-split', default='test')
    p.add_argument('--stage', type=int, default=5, choices=[1, 2, 3, 4, 5], help='feature1..feature5')
    p.add_argument('--pool-size', type=int, default=None, help='override the per-stage pooled side (12/6/4/3/2)')
    p.add_argument('--costs', type=float, nargs='+', default=None, help='SVM costs to sweep')
    p.add_argument('--folds', type=int, default=3, help='cross-validation folds for choosing the cost')
    p.add_argument('--low-shot', action='store_true', help='also run the low-shot SVM (k = 1, 2, 4, ..., 96)')
    p.add_argument('--low-shot-k', type=int, nargs='+', default=None)
    p.add_argument('--draws', type=int, default=5, help='independent random draws per low-shot k')
    p.add_argument('--resize', type=int, default=256)
    p.add_argument('--crop', type=int, default=224)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--num-workers', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', help='write the results as JSON here')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings (key=value)')
    add_debug_flag(p)
    return p.parse_args(argv)


def stage_backbone(cfg: Config, stage: int) -> Config:
    """Make the config's backbone output only feature<stage>: a ResNet becomes :class:`ResNetAllStages` (same
    weights) so that the stem (feature1) is reachable; other backbones keep their type with out_indices=(stage-2,)."""
    backbone = cfg.model.backbone
    if backbone.type in ('ResNet', 'ResNetAllStages', 'mmpretrain.ResNet'):
        backbone.type, backbone.out_indices = 'ResNetAllStages', (stage - 1, )
    elif stage == 1:
        raise ConfigError(f'--stage 1 (the stem) needs a ResNet backbone; {cfg.filename} has {backbone.type} — use '
                          '--stage 2..5.')
    else:
        backbone.out_indices = (stage - 2, )
    return cfg


class ImageList:
    """A dataset of image paths through an mmpretrain test pipeline (labels are read separately)."""

    def __init__(self, paths: list[Path], pipeline: list[dict]) -> None:
        from mmengine.dataset import Compose
        self.paths, self.pipeline = paths, Compose(pipeline)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        return self.pipeline(dict(img_path=str(self.paths[i]), gt_label=0))


def extract(model, paths: list[Path], args: argparse.Namespace, pool_size: int):
    import torch.nn.functional as F
    from mmengine.dataset import default_collate
    from torch.utils.data import DataLoader

    from simsiam_mm.evaluation.knn import extract_features
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='ResizeEdge', scale=args.resize, edge='short', backend='pillow'),
                dict(type='CenterCrop', crop_size=args.crop), dict(type='PackInputs')]
    loader = DataLoader(ImageList(paths, pipeline), batch_size=args.batch_size, num_workers=args.num_workers,
                        collate_fn=default_collate)
    feats, _ = extract_features(model, loader, stage=-1,
                                pool=lambda x: F.adaptive_avg_pool2d(x, pool_size).flatten(1).float())
    return feats.numpy()


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import simsiam_mm  # noqa: F401  (registers our classes)
    from simsiam_mm.evaluation import svm
    from simsiam_mm.evaluation.model import build_frozen_model
    train_paths, train_y = svm.load_voc_split(args.voc_root, args.train_split)
    test_paths, test_y = svm.load_voc_split(args.voc_root, args.test_split)
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = build_frozen_model(stage_backbone(cfg, args.stage), args.checkpoint, args.seed)
    pool_size = args.pool_size or svm.STAGE_POOL_SIZES[args.stage - 1]
    start = time.perf_counter()
    train_x = svm.l2_normalize_rows(extract(model, train_paths, args, pool_size))
    test_x = svm.l2_normalize_rows(extract(model, test_paths, args, pool_size))
    print(f'feature{args.stage}: {train_x.shape[1]}-d (pooled to {pool_size}x{pool_size}), '
          f'{len(train_paths)} {args.train_split} / {len(test_paths)} {args.test_split} images from {args.voc_root} '
          f'({time.perf_counter() - start:.1f} s)')
    costs = tuple(args.costs) if args.costs else svm.DEFAULT_COSTS
    full = svm.train_eval_svm(train_x, train_y, test_x, test_y, costs=costs, folds=args.folds, seed=args.seed)
    for name, why in full.skipped.items():
        print(f'  {name}: skipped: {why}')
    for name, ap in full.ap.items():
        if not math.isnan(ap):
            print(f'  {name}: AP {100 * ap:.2f} (cost {full.cost[name]})')
    trained = len(full.ap) - len(full.skipped)
    if trained:
        print(f'VOC07 SVM mAP (feature{args.stage}): {full.mAP:.2f} over {trained} of {len(full.ap)} classes')
    else:
        print(f'VOC07 SVM mAP (feature{args.stage}): n/a: no class could be trained and tested on these splits '
              f'({len(train_paths)} {args.train_split} / {len(test_paths)} {args.test_split} images); '
              f'every class needs '
              f'positive and negative {args.train_split} images and a positive {args.test_split} image')
    result = dict(stage=args.stage, dims=int(train_x.shape[1]), mAP=full.mAP, ap=full.ap, cost=full.cost,
                  skipped=full.skipped, num_train=len(train_paths), num_test=len(test_paths))
    if args.low_shot:
        ks = tuple(args.low_shot_k) if args.low_shot_k else svm.LOW_SHOT_K
        low = svm.low_shot_svm(train_x, train_y, test_x, test_y, ks=ks, num_draws=args.draws, costs=costs,
                               seed=args.seed)
        print(f'Low-shot VOC07 SVM (feature{args.stage}, {args.draws} draws, mean mAP at the best cost):')
        for k, r in low.items():
            got = f'{r["mAP"]:.2f} ± {r["std"]:.2f} (cost {r["cost"]})' if r['cost'] is not None else 'n/a'
            note = f'; {len(r["skipped"])} class(es) skipped' if r['skipped'] else ''
            print(f'  k={k:>3}: {got}{note}')
        result['low_shot'] = {str(k): r for k, r in low.items()}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1, default=float))
    return result


if __name__ == '__main__':
    cli_main(main)()
