"""Evaluation protocols for frozen SimSiam features: kNN, per-stage linear probes, VOC07 (low-shot) SVM."""
from .knn import build_eval_loader, extract_features, knn_accuracy, knn_eval, knn_predict
from .knn_hook import KNNEvalHook
from .metrics import MultiHeadAccuracy

__all__ = ['KNNEvalHook', 'MultiHeadAccuracy', 'build_eval_loader', 'extract_features', 'knn_accuracy', 'knn_eval',
           'knn_predict']
