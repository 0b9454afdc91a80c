"""Accuracy of every head of a multi-head (per-stage) linear probe."""
from collections.abc import Sequence

import torch
from mmengine.evaluator import BaseMetric

from simsiam_mm.registry import METRICS


@METRICS.register_module()
class MultiHeadAccuracy(BaseMetric):
    """Top-k accuracy (%) of each head's ``multi_pred_score`` (set by :class:`MultiStageLinearHead`), reported as
    ``<name>_top<k>`` (e.g. ``feature1_top1`` ... ``feature5_top5``).

    Examples:
        >>> val_evaluator = dict(type='MultiHeadAccuracy', topk=(1, 5))
    """

    default_prefix = 'multihead'

    def __init__(self, topk: Sequence[int] = (1, 5), collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(topk)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'multi_pred_score' not in sample:
                raise KeyError('MultiHeadAccuracy: the data sample has no multi_pred_score; use it with '
                               'MultiStageLinearHead (or use mmpretrain Accuracy for a single head)')
            self.results.append(dict(scores=sample['multi_pred_score'].cpu(), label=int(sample['gt_label'][0]),
                                     names=sample.get('multi_head_names')))

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        scores = torch.stack([r['scores'] for r in results])  # N x heads x classes
        labels = torch.tensor([r['label'] for r in results])  # N
        names = results[0]['names'] or [f'head{i}' for i in range(scores.shape[1])]
        metrics = {}
        for h, name in enumerate(names):
            for k in self.topk:
                top = scores[:, h].topk(min(k, scores.shape[2]), dim=1).indices
                metrics[f'{name}_top{k}'] = 100.0 * (top == labels[:, None]).any(1).float().mean().item()
        return metrics
