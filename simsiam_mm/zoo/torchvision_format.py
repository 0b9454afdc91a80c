"""simsiam_mm backbone -> ``torchvision.models.resnetN`` state dict.

mmpretrain's ResNet uses torchvision's parameter names (``conv1``, ``bn1``, ``layer1.0.conv1``, ``downsample.0/1``)
and the same "pytorch" block layout (stride on the 3x3 conv), so the conversion is a prefix strip plus checks.

Two differences are handled explicitly:

- ``fc``: a SimSiam backbone has no classifier, but ``torchvision.models.resnet50().load_state_dict(strict=True)``
  needs ``fc.weight``/``fc.bias``. By default a new classifier is added, initialised as the official linear
  evaluation does (``main_lincls.py``: weight ~ N(0, 0.01), bias 0; seeded, so the output is reproducible) and
  reported as "added" (it is not pretrained). ``with_fc=False`` leaves it out: load it into a model whose
  ``fc = nn.Identity()`` (strict loading then passes, and the model returns pooled features).
- CIFAR stem: mmpretrain's ``ResNet_CIFAR`` has a 3x3 stride-1 ``conv1`` and no max-pool, torchvision a 7x7
  stride-2 ``conv1`` and a max-pool. The conversion refuses such a backbone unless ``allow_cifar_stem=True``; the
  result then loads into :func:`torchvision_resnet` ``(depth, cifar_stem=True)``, a torchvision ResNet with
  ``conv1 = Conv2d(3, 64, 3, 1, 1, bias=False)`` and ``maxpool = Identity()``.
"""
import torch
import torchvision
from torch import Tensor, nn

from simsiam_mm.zoo.report import ConversionError, ConversionReport, check_shape
from simsiam_mm.zoo.resnet import ResNetArch, infer_resnet_arch, split_backbone

FC_KEYS = ('fc.weight', 'fc.bias')


def torchvision_resnet(depth: int, cifar_stem: bool = False, num_classes: int = 1000) -> nn.Module:
    """``torchvision.models.resnet{depth}`` (random init), with the CIFAR stem swapped in if asked.

    Examples:
        >>> torchvision_resnet(18, cifar_stem=True).conv1
        Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
    """
    model = getattr(torchvision.models, f'resnet{depth}')(weights=None, num_classes=num_classes)
    if cifar_stem:
        model.conv1 = nn.Conv2d(3, model.conv1.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()  # ResNet_CIFAR keeps the 32x32 resolution into layer1
    return model


def check_against_torchvision(backbone: dict[str, Tensor], arch: ResNetArch, source: str,
                              report: ConversionReport, names: dict[str, str] | None = None) -> None:
    """Every backbone key must exist in the torchvision ResNet of the same depth with the same shape, and every
    torchvision key but ``fc`` must be present. Keys torchvision lacks are recorded as unexpected, under the name
    the file holds them by (``names``: backbone key -> file key; default ``backbone.<key>``)."""
    names = names if names is not None else {k: f'backbone.{k}' for k in backbone}
    with torch.device('meta'):  # shapes only, no memory, no init cost
        skeleton = torchvision_resnet(arch.depth, arch.cifar_stem).state_dict()
    for key, value in backbone.items():
        if key not in skeleton or key in FC_KEYS:
            report.unexpected.append(names.get(key, key))
        else:
            check_shape(source, names.get(key, key), value, tuple(skeleton[key].shape),
                        f'torchvision resnet{arch.depth}')
    missing = sorted(set(skeleton) - set(backbone) - set(FC_KEYS))
    if missing:
        raise ConversionError(f'{source}: backbone lacks {len(missing)} key(s) of torchvision resnet{arch.depth}: '
                              f'{", ".join(missing[:5])}')


def refuse_cifar_stem(arch: ResNetArch, source: str, target: str, hint: str = '') -> None:
    if arch.cifar_stem:
        raise ConversionError(
            f'{source}: backbone.conv1.weight is 3x3: a ResNet_CIFAR stem (3x3 stride-1 conv, no max-pool), while '
            f'{target} has a 7x7 stride-2 conv1 and a max-pool, so the weights would not compute the same features'
            f'{hint}')


def simsiam_mm_to_torchvision(state_dict: dict[str, Tensor], source: str = 'checkpoint', with_fc: bool = True,
                              num_classes: int = 1000, allow_cifar_stem: bool = False,
                              allow_unexpected: bool = False) -> tuple[dict[str, Tensor], ConversionReport]:
    """A state dict ``torchvision.models.resnet{depth}(num_classes=num_classes)`` loads with ``strict=True``.

    Examples:
        >>> from mmpretrain.models import ResNet
        >>> sd = {'backbone.' + k: v for k, v in ResNet(depth=18).state_dict().items()}
        >>> tv, report = simsiam_mm_to_torchvision(sd)
        >>> torchvision_resnet(18).load_state_dict(tv)
        <All keys matched successfully>
        >>> report.summary()
        '[simsiam_mm -> torchvision] converted: 120, skipped: 0, unexpected: 0, added: 2'
    """
    report = ConversionReport('simsiam_mm -> torchvision')
    split = ConversionReport('split')
    backbone = split_backbone(state_dict, source, split)
    report.skipped, report.unexpected = split.skipped, split.unexpected
    arch = infer_resnet_arch(backbone, source)
    if not allow_cifar_stem:
        refuse_cifar_stem(arch, source, f'torchvision resnet{arch.depth}',
                          '; pass --cifar-stem (allow_cifar_stem=True) to write it for torchvision_resnet('
                          f'{arch.depth}, cifar_stem=True), i.e. resnet{arch.depth}() with conv1 = Conv2d(3, 64, 3, 1, '
                          '1, bias=False) and maxpool = Identity()')
    check_against_torchvision(backbone, arch, source, report, {key: src for src, key in split.converted})
    report.check_unexpected(source, allow_unexpected)
    out = {}
    for src, key in split.converted:
        if src not in report.unexpected:
            out[key] = backbone[key]
            report.converted.append((src, key))
    if with_fc:
        generator = torch.Generator().manual_seed(0)
        out['fc.weight'] = torch.empty(num_classes, arch.out_channels).normal_(0, 0.01, generator=generator)
        out['fc.bias'] = torch.zeros(num_classes)
        for key in FC_KEYS:
            report.added.append((key, f'new {num_classes}-way classifier, N(0, 0.01)/0 init as main_lincls.py, not '
                                      'pretrained'))
    return out, report


def convert_torchvision_file(src: str, with_fc: bool = True, num_classes: int = 1000, allow_cifar_stem: bool = False,
                             allow_unexpected: bool = False) -> tuple[dict[str, Tensor], ConversionReport]:
    """:func:`simsiam_mm_to_torchvision` on a checkpoint file (full model or extracted backbone)."""
    from simsiam_mm.checkpoint import checkpoint_format, read_checkpoint, state_dict_of
    state_dict = state_dict_of(read_checkpoint(src), str(src))
    if checkpoint_format(state_dict) == 'torchvision':
        raise ConversionError(f'{src}: is already a torchvision ResNet state dict (conv1.weight, ..., fc.weight): '
                              'nothing to convert — torchvision.models.resnetN().load_state_dict reads it as it is.')
    return simsiam_mm_to_torchvision(state_dict, str(src), with_fc, num_classes, allow_cifar_stem, allow_unexpected)
