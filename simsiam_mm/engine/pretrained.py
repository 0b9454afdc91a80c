"""Load pretrained backbone weights, and refuse a checkpoint whose keys match (almost) nothing in the model.

mmengine's ``Pretrained`` initializer loads with ``strict=False``: a checkpoint saved under other key names (a
torchvision file without the ``backbone.`` prefix, the whole SimSiam model loaded into a bare ResNet without
``prefix``, a ResNet-50 loaded into a ResNet-18) only logs a list of missing keys, and the downstream run trains a
randomly initialised backbone while reporting it as SimSiam-pretrained.
"""
import logging

import torch
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit
from mmengine.runner.checkpoint import _load_checkpoint
from torch import nn

from simsiam_mm.errors import CheckpointError
from simsiam_mm.registry import WEIGHT_INITIALIZERS


def match_state_dict(module: nn.Module, state_dict: dict[str, torch.Tensor], source: str,
                     min_fraction: float = 0.5) -> dict[str, torch.Tensor]:
    """The entries of ``state_dict`` whose name and shape match ``module``; raise :class:`CheckpointError` naming
    ``source`` if they cover less than ``min_fraction`` of the module's tensors (running counters not counted)."""
    own = {k: v for k, v in module.state_dict().items() if not k.endswith('num_batches_tracked')}
    matched = {k: v for k, v in state_dict.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    fraction = len(matched) / max(len(own), 1)
    if fraction >= min_fraction:
        if len(matched) < len(own):
            print_log(f'{source}: {len(own) - len(matched)} of {len(own)} tensors of {type(module).__name__} keep '
                      f'their initialisation (not in the checkpoint or another shape).', logger='current',
                      level=logging.WARNING)
        return matched
    same_name_other_shape = [k for k in state_dict if k in own and k not in matched]
    if same_name_other_shape:
        hint = (f'{len(same_name_other_shape)} keys have the right name but another shape (another depth or width?), '
                f'e.g. {same_name_other_shape[:2]}.')
    elif any(k.startswith('backbone.') for k in state_dict):
        hint = "A SimSiam checkpoint stores the backbone under 'backbone.': use prefix='backbone.'."
    else:
        hint = 'Is it a checkpoint of this architecture? tools/model_converters convert other formats.'
    raise CheckpointError(
        f'{source}: only {len(matched)} of the {len(own)} tensors of {type(module).__name__} match the checkpoint '
        f'by name and shape ({fraction:.0%} < {min_fraction:.0%}). Checkpoint keys look like '
        f'{sorted(k for k in state_dict if not k.endswith("num_batches_tracked"))[:3]}, the model expects '
        f'{sorted(own)[:3]}. {hint}')


@WEIGHT_INITIALIZERS.register_module(name='CheckedPretrained')
class CheckedPretrainedInit(PretrainedInit):
    """``init_cfg=dict(type='CheckedPretrained', checkpoint=..., prefix='backbone.')``: mmengine's ``Pretrained``
    with a check that the weights land (see :func:`match_state_dict`).

    Args:
        checkpoint: path or URL of the checkpoint.
        prefix: keep only the keys starting with it, stripped (``'backbone.'`` for a SimSiam checkpoint).
        map_location: as for ``torch.load``.
        min_fraction: the least fraction of the module's tensors the checkpoint must supply.
    """

    def __init__(self, checkpoint: str, prefix: str | None = None, map_location: str = 'cpu',
                 min_fraction: float = 0.5) -> None:
        super().__init__(checkpoint, prefix=prefix, map_location=map_location)
        self.min_fraction = min_fraction

    def __call__(self, module: nn.Module) -> None:
        ckpt = _load_checkpoint(self.checkpoint, map_location=self.map_location, logger='current')
        state_dict = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
        state_dict = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state_dict.items()}
        source = f'checkpoint {self.checkpoint}'
        if self.prefix:
            source += f" (prefix='{self.prefix}')"
            prefixed = {k[len(self.prefix):]: v for k, v in state_dict.items() if k.startswith(self.prefix)}
            if not prefixed:
                tops = sorted({k.split('.', 1)[0] + '.' for k in state_dict})
                raise CheckpointError(f'{source}: no key starts with {self.prefix!r}; its keys start with {tops[:6]}.')
            state_dict = prefixed
        matched = match_state_dict(module, state_dict, source, self.min_fraction)
        module.load_state_dict(matched, strict=False)
        print_log(f'{source}: loaded {len(matched)} tensors into {type(module).__name__}.', logger='current')
