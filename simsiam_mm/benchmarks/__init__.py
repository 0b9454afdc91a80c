"""Downstream benchmarks (MMDetection / MMSegmentation) for SimSiam backbones.

The configs under ``benchmarks/`` only need ``custom_imports=dict(imports=['simsiam_mm'])``: importing ``simsiam_mm``
lets torch >= 2.6 read our checkpoints with ``weights_only=True`` (see :mod:`simsiam_mm.checkpoint`), registers
``CheckedPretrained`` where mmdet and mmseg configs can name it, and
imports ``mmpretrain.models``, which registers the C4 detectors' res5 head with the extra BN of MoCo's protocol
(``ResLayerExtraNorm``, in mmdet's registry). This package serves ``tools/benchmarks/train_downstream.py``: checkpoint
reading and checking, data-root and smoke-run config rewrites.
"""
from .hooks import LastMetricsHook
from .pretrained import load_backbone_state, save_backbone_checkpoint, set_pretrained
from .smoke import set_data_root, smoke_cfg

__all__ = ['LastMetricsHook', 'load_backbone_state', 'save_backbone_checkpoint', 'set_data_root', 'set_pretrained',
           'smoke_cfg']
