"""Build the simsiam_mm model a state dict or a config describes, and load weights into it strictly."""
import re

from mmengine.registry import DefaultScope
from torch import Tensor, nn

from simsiam_mm.checkpoint import load_checked
from simsiam_mm.registry import MODELS, SCOPE
from simsiam_mm.zoo.report import ConversionError
from simsiam_mm.zoo.resnet import infer_resnet_arch, split_backbone


def _linear_indices(state_dict: dict[str, Tensor], prefix: str) -> list[int]:
    pattern = re.compile(re.escape(prefix) + r'(\d+)\.weight$')
    return sorted(int(m.group(1)) for k, v in state_dict.items() if (m := pattern.match(k)) and v.dim() == 2)


def infer_model_cfg(state_dict: dict[str, Tensor], source: str) -> dict:
    """The ``model`` config of a full simsiam_mm state dict, read off its shapes (plain BN, no SyncBN).

    Examples:
        >>> cfg = dict(type='SimSiam', backbone=dict(type='ResNet', depth=18),
        ...            neck=dict(type='SimSiamProjector', in_channels=512, hid_channels=64, out_channels=32,
        ...                      norm_cfg=dict(type='BN1d')),
        ...            head=dict(type='SimSiamHead', predictor=dict(type='SimSiamPredictor', in_channels=32,
        ...                      hid_channels=8, out_channels=32, norm_cfg=dict(type='BN1d'))))
        >>> inferred = infer_model_cfg(build_model(cfg).state_dict(), 'demo')
        >>> inferred['backbone']['depth'], inferred['neck']['num_layers'], inferred['head']['predictor']['hid_channels']
        (18, 3, 8)
    """
    arch = infer_resnet_arch(split_backbone(state_dict, source), source)
    neck = _linear_indices(state_dict, 'neck.mlp.')
    pred = _linear_indices(state_dict, 'head.predictor.mlp.')
    if not neck:
        raise ConversionError(f'{source}: no projector keys (neck.mlp.N.weight)')
    if len(pred) != 2:
        raise ConversionError(f'{source}: expected a 2-layer predictor (head.predictor.mlp.0/3.weight), found linear '
                              f'layers at {pred}')
    first, last = state_dict[f'neck.mlp.{neck[0]}.weight'], state_dict[f'neck.mlp.{neck[-1]}.weight']  # out x in
    hidden = state_dict[f'head.predictor.mlp.{pred[0]}.weight']  # hid x d
    output = state_dict[f'head.predictor.mlp.{pred[1]}.weight']  # d x hid
    return dict(
        type='SimSiam',
        backbone=dict(type='ResNet_CIFAR' if arch.cifar_stem else 'ResNet', depth=arch.depth, norm_cfg=dict(type='BN')),
        neck=dict(type='SimSiamProjector', in_channels=first.shape[1], hid_channels=first.shape[0],
                  out_channels=last.shape[0], num_layers=len(neck), norm_cfg=dict(type='BN1d')),
        head=dict(type='SimSiamHead', predictor=dict(
            type='SimSiamPredictor', in_channels=hidden.shape[1], hid_channels=hidden.shape[0],
            out_channels=output.shape[0], norm_cfg=dict(type='BN1d'))))


def build_model(model_cfg: dict, scope: str = SCOPE) -> nn.Module:
    """``MODELS.build`` in the ``simsiam_mm`` scope (so ``type='SimSiam'`` is ours, ``type='ResNet'`` mmpretrain's)."""
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(dict(model_cfg))


def load_strict(model: nn.Module, state_dict: dict[str, Tensor], source: str) -> None:
    """Load ``state_dict`` into ``model`` whole: every tensor present with its shape, nothing extra
    (:func:`simsiam_mm.checkpoint.check_weights` with ``strict=True``; the error names ``source``)."""
    load_checked(model, state_dict, source, min_fraction=1.0, strict=True)
