"""Initialise a downstream detector or segmentor from a SimSiam checkpoint, checked.

mmselfsup's protocol points ``init_cfg=dict(type='Pretrained', checkpoint=CKPT, prefix='backbone.')`` at the
pretraining checkpoint: mmengine keeps the ``backbone.*`` tensors, strips the prefix and loads them with
``strict=False``. ``strict=False`` is also the danger: a checkpoint whose keys match nothing (another prefix, a
converted file, a typo) leaves the network at random initialisation without an error. The functions here read the
checkpoint first (failing on one without ``backbone.*`` tensors), save its backbone as a small tensors-only file, and
point every such ``init_cfg`` of a model config at that file as ``CheckedPretrained``
(:mod:`simsiam_mm.engine.pretrained`), which refuses weights that do not land, naming the file and the count.
"""
from collections import OrderedDict
from typing import Any

from torch import Tensor

from simsiam_mm.errors import ConfigError
from simsiam_mm.checkpoint import BACKBONE_PREFIX, read_checkpoint, save_atomic, state_dict_of, strip_prefix

PREFIX = BACKBONE_PREFIX
PRETRAINED_TYPES = ('Pretrained', 'CheckedPretrained')


def load_backbone_state(checkpoint: str, prefix: str = PREFIX) -> 'OrderedDict[str, Tensor]':
    """Return the ``prefix``-ed tensors of a checkpoint with the prefix removed.

    Accepts an mmengine checkpoint (``{'state_dict': ..., 'meta': ..., 'message_hub': ...}``, what ``tools/train.py``
    writes) or a bare state dict. Raises :class:`~simsiam_mm.errors.CheckpointError` naming the file when it cannot be
    read or no key starts with ``prefix`` (saying which converter applies to a foreign format).

    Examples:
        >>> import tempfile, torch
        >>> path = tempfile.mktemp(suffix='.pth')
        >>> torch.save({'state_dict': {'backbone.conv1.weight': torch.ones(1), 'neck.mlp.0.weight': torch.ones(1)}},
        ...            path)
        >>> list(load_backbone_state(path))
        ['conv1.weight']
    """
    return OrderedDict(strip_prefix(state_dict_of(read_checkpoint(checkpoint, 'pretrained checkpoint'), checkpoint),
                                    prefix, checkpoint))


def save_backbone_checkpoint(state: 'OrderedDict[str, Tensor]', path: str, source: str,
                             prefix: str = PREFIX) -> str:
    """Write ``state`` back under ``prefix`` as a tensors-only checkpoint (any ``torch.load`` reads it).

    Each process of a distributed run may call this: the file is written aside and renamed into place.
    """
    save_atomic({'state_dict': OrderedDict((prefix + k, v) for k, v in state.items()), 'meta': {'source': source}},
                path)
    return path


def set_pretrained(model_cfg: dict, checkpoint: str, prefix: str = PREFIX) -> list[str]:
    """Point every ``init_cfg=dict(type='Pretrained' or 'CheckedPretrained', prefix=prefix)`` in a model config at
    ``checkpoint``, as ``CheckedPretrained``.

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
        if isinstance(init, dict) and init.get('type') in PRETRAINED_TYPES and init.get('prefix') == prefix:
            init['type'], init['checkpoint'] = 'CheckedPretrained', checkpoint
            targets.append('.'.join(path))
        for key, value in node.items():
            if key != 'init_cfg':
                visit(value, path + (key, ))

    visit(model_cfg, ())
    if not targets:
        raise ConfigError(f'model: no init_cfg=dict(type="CheckedPretrained", prefix="{prefix}") anywhere in the '
                          f'model config, so nothing would be initialised from {checkpoint} — add one to the backbone')
    if model_cfg.get('pretrained'):
        raise ConfigError(f'model.pretrained={model_cfg["pretrained"]!r} would override the backbone init_cfg — set '
                          'model.pretrained=None in the benchmark config')
    return targets
