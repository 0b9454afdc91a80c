"""Weighted k-nearest-neighbour classification of frozen features (Wu et al. 2018, as used by mmselfsup and SimSiam).

Protocol (Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance Discrimination", CVPR 2018, Sec. 3.4):
every training image is a memory-bank entry holding its l2-normalised feature; a test feature f retrieves its k most
cosine-similar entries s_i and "class c gets a total weight sum_i alpha_i 1(c_i = c)" with alpha_i = exp(s_i / tau),
tau = 0.07 and k = 200 in the paper; mmselfsup's and SimSiam's CIFAR monitor use k = 20 (our default). The features
are the global-average-pooled output of one backbone stage (the last by default).
"""
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import default_collate
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from simsiam_mm.errors import DataError

from .progress import track


def pool_feature(x: Tensor) -> Tensor:
    """Global-average-pool an NxCxHxW map (or pass an NxC vector through) and l2-normalise it: NxC."""
    if x.dim() == 4:
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)  # NxCxHxW -> NxC
    return F.normalize(x.float(), dim=1)


@torch.no_grad()
def extract_features(model: nn.Module, loader: Iterable, stage: int = -1, max_batches: int | None = None,
                     pool: Callable[[Tensor], Tensor] = pool_feature,
                     progress: str | None = None) -> tuple[Tensor, Tensor]:
    """Run ``model.extract_feat`` in eval mode over ``loader``; return (NxC l2-normalised features, N labels).

    ``model`` is any mmengine model with a ``data_preprocessor`` and an ``extract_feat`` returning a tuple of stage
    outputs (our :class:`SimSiam`, mmpretrain's ``ImageClassifier`` without a neck); ``stage`` indexes that tuple. The
    model's train/eval mode is restored afterwards, so a training hook can call this. ``pool`` turns the stage's
    NxCxHxW map into NxD features (default: global average pooling + l2 normalisation). With ``progress`` (a
    description) the images done, the rate and the ETA go to stderr (:func:`~simsiam_mm.evaluation.progress.track`).
    """
    was_training = model.training
    model.eval()
    feats, labels = [], []
    if progress is not None:
        loader = track(loader, _num_images(loader, max_batches), progress, size=lambda b: len(b['data_samples']))
    try:
        for i, batch in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            data = model.data_preprocessor(batch, False)
            outs = model.extract_feat(data['inputs'])
            outs = outs if isinstance(outs, (tuple, list)) else (outs,)
            feats.append(pool(outs[stage]))  # BxD
            labels.append(torch.as_tensor([int(s.gt_label) for s in data['data_samples']]))
    finally:
        model.train(was_training)
    if not feats:
        raise DataError('extract_features: the data loader yielded no batch — the dataset is empty; check '
                        '--data-root and the split prefixes.')
    return torch.cat(feats), torch.cat(labels)


def _num_images(loader: Iterable, max_batches: int | None) -> int:
    """How many images ``loader`` yields (its dataset's length, capped at ``max_batches`` batches)."""
    total = len(getattr(loader, 'dataset', loader))
    batch_size = getattr(loader, 'batch_size', None)
    return min(total, max_batches * batch_size) if max_batches is not None and batch_size else total


@torch.no_grad()
def knn_predict(train_feats: Tensor, train_labels: Tensor, test_feats: Tensor, num_classes: int, k: int = 20,
                temperature: float = 0.07, chunk_size: int = 256) -> Tensor:
    """Class scores of each test feature by exp(sim/T)-weighted voting of its k nearest training features.

    Args:
        train_feats: NxC l2-normalised memory bank.
        train_labels: N integer labels in [0, num_classes).
        test_feats: MxC l2-normalised queries.
        num_classes: number of classes.
        k: neighbours (clipped to N).
        temperature: tau in alpha = exp(s / tau).
        chunk_size: queries per matrix product (bounds memory at chunk_size x N).

    Returns:
        M x num_classes scores (sums of neighbour weights per class).

    Examples:
        >>> bank = F.normalize(torch.tensor([[1., 0.], [0.9, 0.1], [0., 1.], [0.1, 0.9]]), dim=1)
        >>> scores = knn_predict(bank, torch.tensor([0, 0, 1, 1]), bank[[0, 2]], num_classes=2, k=2)
        >>> scores.argmax(1).tolist()
        [0, 1]
    """
    if train_feats.shape[0] != train_labels.shape[0]:
        raise ValueError(f'knn_predict: {train_feats.shape[0]} training features but {train_labels.shape[0]} labels')
    if train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(
            f'knn_predict: feature sizes differ (train {train_feats.shape[1]}, test {test_feats.shape[1]})')
    k = min(k, train_feats.shape[0])
    scores = []
    for start in range(0, test_feats.shape[0], chunk_size):
        q = test_feats[start:start + chunk_size]  # BxC
        sim = q @ train_feats.T  # BxN cosine similarities
        top_sim, top_idx = sim.topk(k, dim=1)  # Bxk
        weights = (top_sim / temperature).exp()  # Bxk, alpha_i = exp(s_i / tau)
        votes = torch.zeros(q.shape[0], num_classes, dtype=weights.dtype)
        votes.scatter_add_(1, train_labels[top_idx], weights)  # BxK: sum_i alpha_i 1(c_i = c)
        scores.append(votes)
    return torch.cat(scores)


def topk_accuracy(scores: Tensor, labels: Tensor, topk: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Percentage of rows whose label is among the ``k`` highest scores, for each k (clipped to the class count)."""
    out = {}
    for k in topk:
        kk = min(k, scores.shape[1])
        hit = (scores.topk(kk, dim=1).indices == labels[:, None]).any(dim=1)
        out[f'top{k}'] = 100.0 * hit.float().mean().item()
    return out


def knn_accuracy(train_feats: Tensor, train_labels: Tensor, test_feats: Tensor, test_labels: Tensor,
                 num_classes: int | None = None, k: int = 20, temperature: float = 0.07) -> dict[str, float]:
    """Top-1 and top-5 accuracy (%) of :func:`knn_predict` on labelled test features."""
    if num_classes is None:
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    scores = knn_predict(train_feats, train_labels, test_feats, num_classes, k=k, temperature=temperature)
    return topk_accuracy(scores, test_labels)


def class_balanced_indices(labels: Sequence[int], num_per_class: int | None, seed: int = 0) -> list[int]:
    """Indices of ``num_per_class`` random samples of every class (all samples when None), sorted.

    Folder datasets are sorted by class, so taking the first N images would keep only the first classes.
    """
    labels = np.asarray(labels)
    if num_per_class is None:
        return list(range(len(labels)))
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        picked.extend(rng.choice(idx, size=min(num_per_class, len(idx)), replace=False).tolist())
    return sorted(picked)


def _size(item: dict) -> str:
    shape = tuple(item['inputs'].shape)
    return f'{shape[-1]}x{shape[-2]}' if len(shape) >= 2 else str(shape)


def _path(item: dict) -> str:
    return getattr(item.get('data_samples'), 'img_path', None) or 'an image'


def collate_one_size(batch: Sequence[dict]) -> dict:
    """``default_collate``, after checking that every image of the batch has one size (a batch must stack); else a
    :class:`DataError` naming two files and their sizes, instead of torch's ``stack expects each tensor to be equal
    size``."""
    first = batch[0]
    other = next((item for item in batch if item['inputs'].shape != first['inputs'].shape), None)
    if other is not None:
        raise DataError(f'{_path(other)}: images of different sizes in one batch ({_size(other)} here, '
                        f'{_size(first)} in {_path(first)}) — bring them to one size in the pipeline (knn_eval.py: '
                        '--resize N --crop N; a config: ResizeEdge and CenterCrop before PackInputs).')
    return default_collate(batch)


def build_eval_loader(dataset: Dataset | dict, num_per_class: int | None = None, batch_size: int = 256,
                      num_workers: int = 0, seed: int = 0,
                      build: Callable[[dict], Dataset] | None = None) -> DataLoader:
    """A sequential loader over a (class-balanced subset of a) labelled dataset, collated for mmengine models.

    ``dataset`` is a dataset or its config (built with ``build``, default our DATASETS registry).
    """
    if num_per_class is not None and num_per_class < 1:
        raise DataError(f'num_per_class={num_per_class}: a class-balanced subset needs at least 1 image per class '
                        '(None: every image).')
    if isinstance(dataset, dict):
        if build is None:
            from simsiam_mm.registry import DATASETS
            build = DATASETS.build
        dataset = build(dataset)
    if len(dataset) == 0:
        where = getattr(dataset, 'data_root', '') or type(dataset).__name__
        raise DataError(f'{where}: the dataset {getattr(dataset, "data_prefix", "")!r} holds no image — check '
                        '--data-root and the split prefixes.')
    if num_per_class is not None:
        dataset = Subset(dataset, class_balanced_indices(dataset.get_gt_labels(), num_per_class, seed))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      collate_fn=collate_one_size)


def knn_eval(model: nn.Module, train_loader: Iterable, val_loader: Iterable, k: int = 20,
             temperature: float = 0.07, stage: int = -1, num_classes: int | None = None,
             progress: bool = False) -> dict[str, float]:
    """Extract features of both splits with ``model`` and return kNN top-1/top-5 accuracy (%) on the val split.

    ``progress``: report each split's feature extraction (images, rate, ETA) on stderr.

    Examples:
        >>> # model: a SimSiam built from a config, loaders from build_eval_loader(...)
        >>> # knn_eval(model, train_loader, val_loader)  -> {'top1': 38.2, 'top5': 85.0}
    """
    train_feats, train_labels = extract_features(model, train_loader, stage,
                                                 progress='kNN memory bank features' if progress else None)
    val_feats, val_labels = extract_features(model, val_loader, stage,
                                             progress='kNN query features' if progress else None)
    return knn_accuracy(train_feats, train_labels, val_feats, val_labels, num_classes, k, temperature)
