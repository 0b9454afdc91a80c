"""The backbone part of a SimSiam checkpoint, and which ResNet it is (depth, block, stem) read off its shapes."""
from dataclasses import dataclass

from torch import Tensor

from simsiam_mm.zoo.report import ConversionError, ConversionReport

BACKBONE_PREFIX = 'backbone.'
#: Parts of a full simsiam_mm model that are not the backbone: skipped (not unexpected) by backbone-only formats.
OTHER_PARTS = ('neck.', 'head.', 'data_preprocessor.')
#: (bottleneck?, blocks per stage) -> depth, as in torchvision and mmpretrain.
RESNET_DEPTHS = {
    (False, (2, 2, 2, 2)): 18,
    (False, (3, 4, 6, 3)): 34,
    (True, (3, 4, 6, 3)): 50,
    (True, (3, 4, 23, 3)): 101,
    (True, (3, 8, 36, 3)): 152,
}


@dataclass(frozen=True)
class ResNetArch:
    """A ResNet as its state dict shows it.

    Examples:
        >>> from mmpretrain.models import ResNet_CIFAR
        >>> infer_resnet_arch(ResNet_CIFAR(depth=18).state_dict(), 'demo')
        ResNetArch(depth=18, bottleneck=False, cifar_stem=True, width=64)
    """

    depth: int
    bottleneck: bool
    cifar_stem: bool  # 3x3 stride-1 conv1 and no max-pool (mmpretrain ResNet_CIFAR), instead of 7x7 stride 2
    width: int  # channels of the stem

    @property
    def out_channels(self) -> int:
        return self.width * 8 * (4 if self.bottleneck else 1)


def split_backbone(state_dict: dict[str, Tensor], source: str,
                   report: ConversionReport | None = None) -> dict[str, Tensor]:
    """The backbone tensors of a checkpoint, without the ``backbone.`` prefix.

    Accepts a full simsiam_mm (or any mmpretrain/mmdet) state dict with ``backbone.*`` keys, or a backbone already
    stripped of its prefix (``conv1.weight``, ``layer1.0.conv1.weight``, ...). Other model parts (``neck.``,
    ``head.``, ``data_preprocessor.``) are recorded as skipped, anything else as unexpected.

    Raises:
        ConversionError: no backbone key at all (e.g. a head-only file or an official checkpoint).
    """
    report = report if report is not None else ConversionReport('backbone')
    if any(k.startswith(BACKBONE_PREFIX) for k in state_dict):
        backbone = {}
        for key, value in state_dict.items():
            if key.startswith(BACKBONE_PREFIX):
                backbone[key[len(BACKBONE_PREFIX):]] = value
                report.converted.append((key, key[len(BACKBONE_PREFIX):]))
            elif key.startswith(OTHER_PARTS):
                report.skipped.append((key, 'not part of the backbone'))
            else:
                report.unexpected.append(key)
        return backbone
    if 'conv1.weight' in state_dict and any(k.startswith('layer1.') for k in state_dict):
        # a bare backbone (extract_backbone_weights.py --strip-prefix) or a torchvision ResNet, whose classifier
        # fc.* is no part of the backbone
        backbone = {}
        for key, value in state_dict.items():
            if key.startswith('fc.'):
                report.skipped.append((key, 'the classifier of a torchvision ResNet, not part of the backbone'))
            else:
                backbone[key] = value
                report.converted.append((key, key))
        return backbone
    prefixes = sorted({k.split('.')[0] + '.' for k in state_dict})
    hint = ''
    if any(k.startswith(('module.encoder.', 'encoder.')) for k in state_dict):
        hint = ('; this looks like an official facebookresearch/simsiam checkpoint: convert it first with '
                'tools/model_converters/official_to_simsiam_mm.py')
    found = f'its keys start with {", ".join(prefixes[:8])}' if prefixes else 'it holds no tensor'
    raise ConversionError(f'{source}: no backbone keys (expected "backbone.*" or a bare ResNet with conv1.weight and '
                          f'layer1.*); {found}{hint}')


def infer_resnet_arch(backbone: dict[str, Tensor], source: str) -> ResNetArch:
    """Depth, block type and stem of a ResNet backbone state dict (keys without the ``backbone.`` prefix)."""
    if 'conv1.weight' not in backbone:
        raise ConversionError(f'{source}: backbone has no conv1.weight: not a ResNet')
    bottleneck = any(k.startswith('layer1.0.conv3.') for k in backbone)
    blocks = []
    for stage in range(1, 5):
        indices = {int(k.split('.')[1]) for k in backbone if k.startswith(f'layer{stage}.')}
        blocks.append(len(indices))
    depth = RESNET_DEPTHS.get((bottleneck, tuple(blocks)))
    if depth is None:
        raise ConversionError(
            f'{source}: backbone is no standard ResNet ({"Bottleneck" if bottleneck else "BasicBlock"} blocks per '
            f'stage {tuple(blocks)}; known: {sorted(RESNET_DEPTHS.values())})')
    conv1 = backbone['conv1.weight']  # C x 3 x k x k
    return ResNetArch(depth=depth, bottleneck=bottleneck, cifar_stem=conv1.shape[-1] == 3, width=conv1.shape[0])


def extract_backbone_file(src: str, strip_prefix: bool = False,
                          allow_unexpected: bool = False) -> tuple[dict, ConversionReport]:
    """``{'meta', 'state_dict'}`` holding only the backbone of checkpoint ``src`` (with or without ``backbone.``)."""
    from simsiam_mm.checkpoint import read_checkpoint, state_dict_of
    ckpt = read_checkpoint(src)
    report = ConversionReport('extract backbone')
    backbone = split_backbone(state_dict_of(ckpt, str(src)), str(src), report)
    report.check_unexpected(str(src), allow_unexpected)
    prefix = '' if strip_prefix else BACKBONE_PREFIX
    if prefix:
        report.converted = [(s, prefix + t) for s, t in report.converted]
    meta = {k: v for k, v in (ckpt.get('meta') or {}).items() if k in ('epoch', 'iter', 'cfg')}
    return dict(meta=meta, state_dict={prefix + k: v for k, v in backbone.items()}), report
