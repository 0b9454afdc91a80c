"""PASCAL VOC07 linear-SVM classification of frozen features, full and low-shot (Goyal et al., ICCV 2019).

Protocol of Goyal, Mahajan, Gupta, Misra, "Scaling and Benchmarking Self-Supervised Visual Representation Learning"
(their fair_self_supervision_benchmark) as run by mmselfsup 0.x (``tools/benchmarks/classification/svm_voc07/``,
the scripts behind the published SimSiam numbers):

- features: one stage, average-pooled with the reference's fixed windows (:mod:`simsiam_mm.evaluation.pooling`) to
  about 9k dimensions, of images resized short side 256 then to 224x224 (no crop, :func:`extract_pipeline`),
  l2-normalised per image;
- full SVM: one ``LinearSVC(C, class_weight={1: 2, -1: 1}, loss='squared_hinge', penalty='l2', dual=True,
  tol=1e-4, max_iter=2000)`` per class, one-vs-rest on VOC07 trainval, where an image whose only instances of the
  class are "difficult" is a NEGATIVE (``train_svm_kfold.py``: ``cls_labels[cls_labels == 0] = -1`` only); the cost is
  chosen per class from :data:`DEFAULT_COSTS` by ``cross_val_score(cv=3, scoring='average_precision')`` (first best in
  the list order, ``test_svm.py``); the score is the mean over classes of the test AP, difficult-only images ignored;
- low-shot: for each k in (1, 2, 4, 8, 16, 32, 64, 96), each of several independent draws keeps, per class, k random
  positives and (num_classes - 1) * k random negatives of trainval (difficult-only images are never drawn,
  ``svm_helper.get_cls_feats_labels``); an SVM per cost is trained on them and scored on the full test set
  (difficult ignored). Reported: for each k, the mean mAP over draws at the best cost (``aggregate_low_shot``).
"""
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simsiam_mm.errors import DataError, MissingPathError

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow', 'diningtable',
               'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')
# mmselfsup 0.x tools/benchmarks/classification/svm_voc07/tools/eval_svm_full.sh (costs="1.0,10.0,100.0") extended
# by svm_helper.py parse_cost_list with 0.5**4 .. 0.5**19: 19 costs, in this order (ties go to the earlier one).
DEFAULT_COSTS: tuple[float, ...] = (1.0, 10.0, 100.0) + tuple(0.5**n for n in range(4, 20))
# mmselfsup 0.x tools/benchmarks/classification/svm_voc07/tools/eval_svm_lowshot.sh (shots, 5 samples).
LOW_SHOT_K = (1, 2, 4, 8, 16, 32, 64, 96)
LOW_SHOT_DRAWS = 5
# mmselfsup 0.x tools/benchmarks/classification/svm_voc07/tools/train_svm_kfold.py: cross_val_score(cv=3, ...).
CV_FOLDS = 3
# Feature extraction images: mmselfsup 0.x configs/benchmarks/classification/svm_voc07.py, data.extract.pipeline:
# Resize(256) (short side), then Resize((224, 224)): the whole image, squashed, no crop.
RESIZE_SHORT_SIDE, EXTRACT_SIZE = 256, 224


def extract_pipeline(resize: int = RESIZE_SHORT_SIDE, size: int = EXTRACT_SIZE) -> list[dict]:
    """The mmpretrain pipeline of the SVM feature extraction: short side to ``resize``, then the whole image to
    ``size`` x ``size`` (aspect ratio not kept, nothing cropped)."""
    return [dict(type='LoadImageFromFile'),
            dict(type='ResizeEdge', scale=resize, edge='short', backend='pillow'),
            dict(type='Resize', scale=(size, size), keep_ratio=False, backend='pillow'),
            dict(type='PackInputs')]


def load_voc_split(voc_root: str | Path, split: str,
                   classes: Sequence[str] = VOC_CLASSES) -> tuple[list[Path], np.ndarray]:
    """Image paths and an NxC label matrix of a VOC split: 1 = a non-difficult instance of the class, -1 = none,
    0 = only difficult instances (a negative for full-SVM training, ignored at test and in low-shot draws; see
    :func:`train_labels`).

    Reads ``ImageSets/Main/<split>.txt`` and each image's ``Annotations/<id>.xml`` in the standard VOCdevkit layout
    (``voc_root`` is e.g. ``VOCdevkit/VOC2007``). Object names outside ``classes`` raise, naming the file.
    """
    voc_root = Path(voc_root)
    list_file = voc_root / 'ImageSets' / 'Main' / f'{split}.txt'
    if not list_file.is_file():
        raise MissingPathError(f'VOC split list not found: {list_file} (expected the VOCdevkit/VOC2007 layout)')
    ids = [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]
    if not ids:
        raise DataError(f'{list_file} lists no image — check --voc-root (the VOCdevkit/VOC2007 folder).')
    index = {c: i for i, c in enumerate(classes)}
    labels = -np.ones((len(ids), len(classes)), dtype=np.int8)
    paths = []
    for row, img_id in enumerate(ids):
        xml = voc_root / 'Annotations' / f'{img_id}.xml'
        img = voc_root / 'JPEGImages' / f'{img_id}.jpg'
        for f in (xml, img):
            if not f.is_file():
                raise MissingPathError(f'{f} (listed in {list_file}) does not exist')
        paths.append(img)
        for obj in ET.parse(xml).getroot().iter('object'):
            name = obj.findtext('name', '').strip()
            if name not in index:
                raise DataError(f'{xml}: object class {name!r} is not one of the {len(classes)} VOC classes')
            difficult = obj.findtext('difficult', '0').strip() == '1'
            c = index[name]
            if not difficult:
                labels[row, c] = 1
            elif labels[row, c] == -1:
                labels[row, c] = 0  # only difficult instances (so far)
    return paths, labels


def l2_normalize_rows(x: np.ndarray) -> np.ndarray:
    """Per-image l2 normalisation, as the benchmark does before the SVM."""
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-5)


def voc_ap(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision of one class: area under the interpolated precision-recall curve (VOC2010+ rule).

    ``labels`` holds 1/-1 (0 = ignored is removed by the caller). NaN when there is no positive.

    Examples:
        >>> voc_ap(np.array([0.9, 0.8, 0.1]), np.array([1, -1, 1]))  # ranks: hit, miss, hit
        0.8333333333333333
    """
    pos = labels == 1
    if pos.sum() == 0:
        return float('nan')
    order = np.argsort(-scores, kind='stable')
    tp = pos[order].astype(np.float64)
    fp = 1.0 - tp
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = tp / pos.sum()
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):  # make precision monotonically decreasing
        mpre[i] = max(mpre[i], mpre[i + 1])
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _svm(cost: float, seed: int):
    from sklearn.svm import LinearSVC
    return LinearSVC(C=cost, class_weight={1: 2, -1: 1}, loss='squared_hinge', penalty='l2', dual=True, tol=1e-4,
                     max_iter=2000, random_state=seed)


def _fit_score(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, cost: float, seed: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # ConvergenceWarning at high cost, as in the reference runs
        return _svm(cost, seed).fit(x_tr, y_tr).decision_function(x_te)


@dataclass
class SVMResult:
    """Per-class test AP (NaN where undefined), the cost chosen for each class, and messages for skipped classes."""
    ap: dict[str, float] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def mAP(self) -> float:
        valid = [v for v in self.ap.values() if not np.isnan(v)]
        return 100.0 * float(np.mean(valid)) if valid else float('nan')


def _trainable(y: np.ndarray) -> str | None:
    n_pos, n_neg = int((y == 1).sum()), int((y == -1).sum())
    if n_pos == 0 or n_neg == 0:
        return f'trainval has {n_pos} positive and {n_neg} negative image(s): a one-vs-rest SVM needs both'
    return None


def train_labels(y: np.ndarray) -> np.ndarray:
    """Full-SVM training targets of one class from 1/-1/0 labels: difficult-only (0) becomes a negative, every image
    is kept (mmselfsup 0.x ``train_svm_kfold.py``: ``cls_labels[np.where(cls_labels == 0)] = -1``, on labels where
    absent is 0 and difficult is -1, so both end up -1).

    Examples:
        >>> train_labels(np.array([1, -1, 0]))
        array([ 1, -1, -1], dtype=int8)
    """
    out = y.astype(np.int8, copy=True)
    out[out == 0] = -1
    return out


def cross_val_ap(x: np.ndarray, y: np.ndarray, cost: float, folds: int = CV_FOLDS, seed: int = 0) -> float:
    """Mean ``folds``-fold cross-validation AP of the class SVM at ``cost``: sklearn's
    ``cross_val_score(clf, x, y, cv=folds, scoring='average_precision')`` (unshuffled stratified folds, sklearn's
    non-interpolated AP), as the reference's ``train_svm_kfold.py``."""
    from sklearn.model_selection import cross_val_score
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # ConvergenceWarning at high cost, as in the reference runs
        return float(np.mean(cross_val_score(_svm(cost, seed), x, y, cv=folds, scoring='average_precision')))


def choose_cost(x: np.ndarray, y: np.ndarray, costs: Sequence[float] = DEFAULT_COSTS, folds: int = CV_FOLDS,
                seed: int = 0) -> float:
    """The cost with the best :func:`cross_val_ap` on (x, y); the first of equals in ``costs`` order (``np.argmax``,
    as the reference's ``test_svm.py``).

    The reference assumes at least ``folds`` positives and negatives (true for every VOC07 class); with fewer there
    is nothing to cross-validate and the first cost is returned.
    """
    if min(int((y == 1).sum()), int((y == -1).sum())) < folds:
        return float(costs[0])
    return float(costs[int(np.argmax([cross_val_ap(x, y, cost, folds, seed) for cost in costs]))])


def train_eval_svm(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                   classes: Sequence[str] = VOC_CLASSES, costs: Sequence[float] = DEFAULT_COSTS, folds: int = CV_FOLDS,
                   seed: int = 0) -> SVMResult:
    """One-vs-rest linear SVM per class with the cost chosen by ``folds``-fold CV on trainval; test AP per class.

    ``*_x``: NxD l2-normalised features; ``*_y``: NxC labels in {1, -1, 0 (difficult-only)}. Training keeps every
    image, difficult-only as a negative (:func:`train_labels`); the test AP ignores difficult-only images. A class
    whose trainval lacks positives or negatives, or whose test split has no positive, is skipped with the reason in
    ``skipped``.
    """
    result = SVMResult()
    for c, name in enumerate(classes):
        keep_te = test_y[:, c] != 0
        y_tr, y_te = train_labels(train_y[:, c]), test_y[keep_te, c]
        why = _trainable(y_tr)
        if why is None and (y_te == 1).sum() == 0:
            why = 'the test split has no positive image: AP undefined'
        if why is not None:
            result.skipped[name], result.ap[name] = why, float('nan')
            continue
        cost = choose_cost(train_x, y_tr, costs, folds, seed)
        scores = _fit_score(train_x, y_tr, test_x[keep_te], cost, seed)
        result.ap[name], result.cost[name] = voc_ap(scores, y_te), cost
    return result


def low_shot_sample(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``labels`` (NxC, 1/-1/0) keeping per class k random positives and (C-1)*k random negatives; every
    other entry becomes 0 (ignored). Fewer are kept where fewer exist."""
    out = np.zeros_like(labels)
    num_classes = labels.shape[1]
    for c in range(num_classes):
        for symbol, n in ((1, k), (-1, (num_classes - 1) * k)):
            idx = np.flatnonzero(labels[:, c] == symbol)
            out[rng.choice(idx, size=min(n, len(idx)), replace=False), c] = symbol
    return out


def low_shot_svm(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 ks: Sequence[int] = LOW_SHOT_K, num_draws: int = LOW_SHOT_DRAWS,
                 costs: Sequence[float] = DEFAULT_COSTS, classes: Sequence[str] = VOC_CLASSES,
                 seed: int = 0) -> dict[int, dict]:
    """Low-shot VOC07 SVM: for each k, mAP (%) per cost averaged over ``num_draws`` draws, and the best cost's.

    Returns ``{k: {'mAP': best mean mAP, 'cost': best cost, 'per_cost': {cost: mean mAP}, 'std': std over draws at
    the best cost, 'skipped': {class: reason}}}``; classes without a positive and a negative in a draw, or without a
    test positive, are skipped (named in ``skipped``).
    """
    rng = np.random.default_rng(seed)
    out = {}
    for k in ks:
        maps = {cost: [] for cost in costs}  # cost -> mAP of each draw
        skipped: dict[str, str] = {}
        for _ in range(num_draws):
            y = low_shot_sample(train_y, k, rng)
            aps = {cost: [] for cost in costs}
            for c, name in enumerate(classes):
                keep_tr, keep_te = y[:, c] != 0, test_y[:, c] != 0
                why = _trainable(y[keep_tr, c])
                if why is None and (test_y[keep_te, c] == 1).sum() == 0:
                    why = 'the test split has no positive image: AP undefined'
                if why is not None:
                    skipped[name] = why
                    continue
                for cost in costs:
                    scores = _fit_score(train_x[keep_tr], y[keep_tr, c], test_x[keep_te], cost, seed)
                    aps[cost].append(voc_ap(scores, test_y[keep_te, c]))
            for cost in costs:
                maps[cost].append(100.0 * float(np.mean(aps[cost])) if aps[cost] else float('nan'))
        per_cost = {cost: float(np.mean(v)) for cost, v in maps.items()}
        valid = {c: v for c, v in per_cost.items() if not np.isnan(v)}
        best = max(valid, key=valid.get) if valid else None
        out[k] = dict(mAP=valid[best] if best is not None else float('nan'), cost=best, per_cost=per_cost,
                      std=float(np.std(maps[best])) if best is not None else float('nan'), skipped=skipped)
    return out
