"""Initialise a downstream detector or segmentor from a SimSiam checkpoint, and prove that it happened.

mmselfsup's protocol points ``init_cfg=dict(type='Pretrained', checkpoint=CKPT, prefix='backbone.')`` at the
pretraining checkpoint: mmengine keeps the ``backbone.*`` tensors, strips the prefix and loads them with
``strict=False``. ``strict=False`` is also the danger: a checkpoint whose keys match nothing (another prefix, a
converted file, a typo) leaves the network at random initialisation without an error. The functions here read the
checkpoint first (failing on one without ``backbone.*`` tensors), save its backbone as a small tensors-only file,
point every such ``init_cfg`` of a model config at that file, and count, after initialisation, how many tensors of
each initialised module equal the checkpoint's.
"""
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
from mmengine.fileio import get_local_path
from torch import Tensor, nn

from simsiam_mm.errors import ConversionError, MissingPathError
from simsiam_mm.zoo.checkpoint_io import save_atomic

PREFIX = 'backbone.'


def _read_checkpoint(checkpoint: str) -> Any:
    """``torch.load(weights_only=True)`` of a local or remote (``get_local_path``) checkpoint.

    An mmengine checkpoint also holds the message hub (``HistoryBuffer``, numpy arrays); importing ``simsiam_mm``
    allow-lists exactly those types (:func:`simsiam_mm.engine.allow_mmengine_checkpoints`), so the safe loader reads
    it without ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``.
    """
    with get_local_path(checkpoint) as path:
        return torch.load(path, map_location='cpu', weights_only=True)


def load_backbone_state(checkpoint: str, prefix: str = PREFIX) -> 'OrderedDict[str, Tensor]':
    """Return the ``prefix``-ed tensors of a checkpoint with the prefix removed.

    Accepts an mmengine checkpoint (``{'state_dict': ..., 'meta': ..., 'message_hub': ...}``, what ``tools/train.py``
    writes) or a bare state dict. Raises ``ValueError`` naming the file when no key starts with ``prefix``.

    Examples:
        >>> import tempfile, torch
        >>> path = tempfile.mktemp(suffix='.pth')
        >>> torch.save({'state_dict': {'backbone.conv1.weight': torch.ones(1), 'neck.mlp.0.weight': torch.ones(1)}},
        ...            path)
        >>> list(load_backbone_state(path))
        ['conv1.weight']
    """
    if not osp.isfile(checkpoint) and '://' not in checkpoint:
        raise MissingPathError(f'{checkpoint}: pretrained checkpoint not found — check the PRETRAIN path.')
    ckpt = _read_checkpoint(checkpoint)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ConversionError(f'{checkpoint}: expected a checkpoint dict (with a "state_dict"), got '
                              f'{type(ckpt).__name__}')
    tensors = OrderedDict((k[len(prefix):], v) for k, v in state.items()
                          if k.startswith(prefix) and isinstance(v, Tensor))
    if not tensors:
        sample = ', '.join(list(state)[:5])
        raise ConversionError(
            f'{checkpoint}: none of its {len(state)} tensors starts with "{prefix}" (first keys: {sample}). '
            'The downstream benchmarks take the backbone of a simsiam_mm/mmpretrain pretraining checkpoint '
            '(keys backbone.conv1.weight, backbone.layer1.0.conv1.weight, ...).')
    return tensors


def save_backbone_checkpoint(state: 'OrderedDict[str, Tensor]', path: str, source: str,
                             prefix: str = PREFIX) -> str:
    """Write ``state`` back under ``prefix`` as a tensors-only checkpoint (any ``torch.load`` reads it).

    Each process of a distributed run may call this: the file is written aside and renamed into place.
    """
    save_atomic({'state_dict': OrderedDict((prefix + k, v) for k, v in state.items()), 'meta': {'source': source}},
                path)
    return path


def set_pretrained(model_cfg: dict, checkpoint: str, prefix: str = PREFIX) -> list[str]:
    """Point every ``init_cfg=dict(type='Pretrained', prefix=prefix)`` in a model config at ``checkpoint``.

    Returns the dotted module paths that will be initialised (``['backbone']``, or ``['backbone',
    'roi_head.shared_head']`` for a C4 detector whose res5 head starts from ``backbone.layer4``). Raises
    ``ValueError`` when the config has none, since the model would then train from scratch.

    Examples:
        >>> cfg = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='x', prefix='backbone.')),
        ...            roi_head=dict(shared_head=dict(init_cfg=dict(type='Pretrained', prefix='backbone.'))))
        >>> set_pretrained(cfg, 'simsiam.pth'), cfg['roi_head']['shared_head']['init_cfg']['checkpoint']
        (['backbone', 'roi_head.shared_head'], 'simsiam.pth')
    """
    targets: list[str] = []

    def visit(node: Any, path: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            return
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained' and init.get('prefix') == prefix:
            init['checkpoint'] = checkpoint
            targets.append('.'.join(path))
        for key, value in node.items():
            if key != 'init_cfg':
                visit(value, path + (key, ))

    visit(model_cfg, ())
    if not targets:
        raise ValueError(f'the model config has no init_cfg=dict(type="Pretrained", prefix="{prefix}"): '
                         f'nothing would be initialised from {checkpoint}')
    if model_cfg.get('pretrained'):
        raise ValueError(f'model.pretrained={model_cfg["pretrained"]!r} would override the backbone init_cfg; '
                         'set model.pretrained=None in the benchmark config')
    return targets


@dataclass
class LoadReport:
    """How one module's tensors compare with the checkpoint's after initialisation."""
    module: str
    loaded: int = 0  # same name and shape, values equal
    differ: list[str] = field(default_factory=list)  # same name, other shape or values: loading failed
    not_in_checkpoint: list[str] = field(default_factory=list)  # new layers (e.g. the C4 head's extra norm)
    module_tensors: int = 0

    def summary(self) -> str:
        text = f'{self.module}: {self.loaded}/{self.module_tensors} tensors equal the checkpoint\'s'
        if self.not_in_checkpoint:
            text += f'; {len(self.not_in_checkpoint)} not in it (newly initialised: {_head(self.not_in_checkpoint)})'
        if self.differ:
            text += f'; {len(self.differ)} DIFFER ({_head(self.differ)})'
        return text

    def as_dict(self) -> dict:
        return dict(module=self.module, loaded=self.loaded, module_tensors=self.module_tensors,
                    not_in_checkpoint=len(self.not_in_checkpoint), differ=len(self.differ))


def _head(names: list[str], n: int = 3) -> str:
    return ', '.join(names[:n]) + (', ...' if len(names) > n else '')


def compare_with_checkpoint(model: nn.Module, state: 'OrderedDict[str, Tensor]',
                            targets: list[str]) -> list[LoadReport]:
    """Compare each target module's state dict (parameters and BN buffers) with the prefix-stripped checkpoint."""
    reports = []
    for path in targets:
        module_state = model.get_submodule(path).state_dict()
        report = LoadReport(module=path, module_tensors=len(module_state))
        for name, value in module_state.items():
            if name not in state:
                report.not_in_checkpoint.append(name)
            elif value.shape == state[name].shape and torch.equal(value.detach().cpu(), state[name]):
                report.loaded += 1
            else:
                report.differ.append(name)
        reports.append(report)
    return reports
