"""PASCAL VOC07 linear-SVM classification of frozen features, full and low-shot (Goyal et al., ICCV 2019).

Protocol (Goyal, Mahajan, Gupta, Misra, "Scaling and Benchmarking Self-Supervised Visual Representation Learning",
Sec. 5 / their fair_self_supervision_benchmark, reused by OpenSelfSup/mmselfsup): features of one stage are pooled
to about 9k dimensions, l2-normalised per image, and one linear SVM per class is trained one-vs-rest on VOC07
trainval ("positive" = an image with a non-difficult object of the class, "difficult-only" images are ignored) with
``LinearSVC(C, class_weight={1: 2, -1: 1}, loss='squared_hinge', penalty='l2')``; the cost C is chosen per class by
k-fold cross-validation AP on trainval; the score is the mean over classes of the test AP.

Low-shot: for each k in (1, 2, 4, 8, 16, 32, 64, 96), each of several independent draws keeps, per class, k random
positives and (num_classes - 1) * k random negatives of trainval; an SVM per cost is trained on them and scored on the
full test set. Reported: for each k, the mean mAP over draws at the best cost (as in their ``aggregate_low_shot``).
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
DEFAULT_COSTS = (0.01, 0.1, 1.0, 10.0, 100.0)
LOW_SHOT_K = (1, 2, 4, 8, 16, 32, 64, 96)

# ``(feature size per stage)`` for ResNet-50's 5 outputs (stem, res2..res5) at 224 px pooled to ~9k dims (mmselfsup's
# MultiPooling 'adaptive' sizes): 64x12x12, 256x6x6, 512x4x4, 1024x3x3, 2048x2x2. ResNet-18 stages get the same sizes.
STAGE_POOL_SIZES = (12, 6, 4, 3, 2)


def load_voc_split(voc_root: str | Path, split: str,
                   classes: Sequence[str] = VOC_CLASSES) -> tuple[list[Path], np.ndarray]:
    """Image paths and an NxC label matrix (1 positive, -1 negative, 0 difficult-only: ignored) of a VOC split.

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
                labels[row, c] = 0  # only difficult instances: ignored for this class
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


def choose_cost(x: np.ndarray, y: np.ndarray, costs: Sequence[float], folds: int = 3, seed: int = 0) -> float:
    """The cost with the best mean k-fold cross-validation AP on (x, y); the largest fold count the positives allow
    (at least 2); the middle cost when there are too few positives to cross-validate."""
    from sklearn.model_selection import StratifiedKFold
    n_min = min(int((y == 1).sum()), int((y == -1).sum()))
    folds = min(folds, n_min)
    if folds < 2:
        return float(costs[len(costs) // 2])
    best, best_ap = costs[0], -1.0
    for cost in costs:
        aps = []
        for tr, va in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
            aps.append(voc_ap(_fit_score(x[tr], y[tr], x[va], cost, seed), y[va]))
        if np.nanmean(aps) > best_ap:
            best, best_ap = cost, float(np.nanmean(aps))
    return float(best)


def train_eval_svm(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                   classes: Sequence[str] = VOC_CLASSES, costs: Sequence[float] = DEFAULT_COSTS, folds: int = 3,
                   seed: int = 0) -> SVMResult:
    """One-vs-rest linear SVM per class with the cost chosen by ``folds``-fold CV on trainval; test AP per class.

    ``*_x``: NxD l2-normalised features; ``*_y``: NxC labels in {1, -1, 0 (ignored)}. A class whose trainval lacks
    positives or negatives, or whose test split has no positive, is skipped with the reason in ``skipped``.
    """
    result = SVMResult()
    for c, name in enumerate(classes):
        keep_tr, keep_te = train_y[:, c] != 0, test_y[:, c] != 0
        y_tr, y_te = train_y[keep_tr, c], test_y[keep_te, c]
        why = _trainable(y_tr)
        if why is None and (y_te == 1).sum() == 0:
            why = 'the test split has no positive image: AP undefined'
        if why is not None:
            result.skipped[name], result.ap[name] = why, float('nan')
            continue
        cost = choose_cost(train_x[keep_tr], y_tr, costs, folds, seed)
        scores = _fit_score(train_x[keep_tr], y_tr, test_x[keep_te], cost, seed)
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
                 ks: Sequence[int] = LOW_SHOT_K, num_draws: int = 5, costs: Sequence[float] = DEFAULT_COSTS,
                 classes: Sequence[str] = VOC_CLASSES, seed: int = 0) -> dict[int, dict]:
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
