"""Evaluation protocols for frozen SimSiam features: kNN, per-stage linear probes, VOC07 (low-shot) SVM."""
from .knn import build_eval_loader, extract_features, knn_accuracy, knn_eval, knn_predict
from .knn_hook import KNNEvalHook
from .metrics import MultiHeadAccuracy
from .multi_stage import MultiStageLinearHead, ResNetAllStages
from .rank import diagnose, effective_rank
from .rank_hook import RankMeHook

__all__ = ['KNNEvalHook', 'MultiHeadAccuracy', 'MultiStageLinearHead', 'RankMeHook', 'ResNetAllStages',
           'build_eval_loader', 'diagnose', 'effective_rank', 'extract_features', 'knn_accuracy', 'knn_eval',
           'knn_predict']
