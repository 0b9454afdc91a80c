"""VOC07 linear-SVM (and low-shot SVM) classification mAP of a checkpoint's frozen features of any stage.

Protocol of Goyal et al. 2019 as run by mmselfsup 0.x (see ``simsiam_mm/evaluation/svm.py``): stage ``--stage`` in 1..5
(feature1 = the stem before the max-pool, feature2..5 = res2..res5) of images resized short side 256 then to 224x224 (no
crop), average-pooled with the reference's fixed windows (``simsiam_mm/evaluation/pooling.py``; 12/6/4/3/2 px, ~9k dims
for ResNet-50), l2-normalised; one LinearSVC per class on trainval (difficult-only images are negatives) with the cost
picked from 1, 10, 100, 0.5^4..0.5^19 by 3-fold ``cross_val_score`` AP, mean AP over the 20 classes on test
(difficult-only ignored). ``--low-shot`` adds k = 1..96 positives per class with ``--draws`` random draws (mean mAP
reported at the best cost).

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

from simsiam_mm.apis.config import load_config, merge_options
from simsiam_mm.errors import ConfigError, add_debug_flag, cli_main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='the pretraining config the checkpoint was trained with')
    p.add_argument('checkpoint', help="checkpoint path, or 'random' for the randomly initialised model")
    p.add_argument('--voc-root', required=True, help='VOCdevkit/VOC2007 (ImageSets/Main, Annotations, JPEGImages)')
    p.add_argument('--train-split', default='trainval')
    p.add_argument('--test-split', default='test')
    p.add_argument('--stage', type=int, default=5, choices=[1, 2, 3, 4, 5], help='feature1..feature5')
    p.add_argument('--costs', type=float, nargs='+', default=None, help='SVM costs to sweep')
    p.add_argument('--folds', type=int, default=None, help='cross-validation folds for choosing the cost (3)')
    p.add_argument('--low-shot', action='store_true', help='also run the low-shot SVM (k = 1, 2, 4, ..., 96)')
    p.add_argument('--low-shot-k', type=int, nargs='+', default=None)
    p.add_argument('--draws', type=int, default=None, help='independent random draws per low-shot k (5)')
    p.add_argument('--resize', type=int, default=None, help='short side before the final resize (256)')
    p.add_argument('--size', type=int, default=None,
                   help='final square side (224; the pooling windows are set for 224)')
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


def extract(model, paths: list[Path], args: argparse.Namespace, split: str = ''):
    """Features of ``paths`` at feature``args.stage``, pooled with the reference window of that stage."""
    from mmengine.dataset import default_collate
    from torch.utils.data import DataLoader

    from simsiam_mm.evaluation import svm
    from simsiam_mm.evaluation.knn import extract_features
    from simsiam_mm.evaluation.pooling import check_pool_input, stage_pool
    pipeline = svm.extract_pipeline(args.resize or svm.RESIZE_SHORT_SIDE, args.size or svm.EXTRACT_SIZE)
    loader = DataLoader(ImageList(paths, pipeline), batch_size=args.batch_size, num_workers=args.num_workers,
                        collate_fn=default_collate)
    pool = stage_pool(args.stage)

    def pooled(x):
        check_pool_input(x, pool, f'feature{args.stage}')
        return pool(x).flatten(1).float()

    feats, _ = extract_features(model, loader, stage=-1, pool=pooled, progress=f'SVM features, {split}')
    return feats.numpy()


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import simsiam_mm  # noqa: F401  (registers our classes)
    from simsiam_mm.evaluation import svm
    from simsiam_mm.evaluation.model import build_frozen_model
    from simsiam_mm.evaluation.pooling import SPECIFIED_POOL_PARAMS
    train_paths, train_y = svm.load_voc_split(args.voc_root, args.train_split)
    test_paths, test_y = svm.load_voc_split(args.voc_root, args.test_split)
    cfg = load_config(args.config)
    if args.cfg_options:
        merge_options(cfg, args.cfg_options)
    model = build_frozen_model(stage_backbone(cfg, args.stage), args.checkpoint, args.seed)
    start = time.perf_counter()
    train_x = svm.l2_normalize_rows(extract(model, train_paths, args, args.train_split))
    test_x = svm.l2_normalize_rows(extract(model, test_paths, args, args.test_split))
    window = dict(SPECIFIED_POOL_PARAMS[args.stage - 1])
    print(f'feature{args.stage}: {train_x.shape[1]}-d (reference AvgPool2d {window}), '
          f'{len(train_paths)} {args.train_split} / {len(test_paths)} {args.test_split} images from {args.voc_root} '
          f'({time.perf_counter() - start:.1f} s)')
    costs = tuple(args.costs) if args.costs else svm.DEFAULT_COSTS
    folds = args.folds or svm.CV_FOLDS
    full = svm.train_eval_svm(train_x, train_y, test_x, test_y, costs=costs, folds=folds, seed=args.seed)
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
        draws = args.draws or svm.LOW_SHOT_DRAWS
        low = svm.low_shot_svm(train_x, train_y, test_x, test_y, ks=ks, num_draws=draws, costs=costs, seed=args.seed)
        print(f'Low-shot VOC07 SVM (feature{args.stage}, {draws} draws, mean mAP at the best cost):')
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
