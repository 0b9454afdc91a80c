"""simsiam_mm backbone -> detectron2 pickle, following MoCo's ``detection/convert-pretrain-to-detectron2.py``.

Renames: stem keys get ``stem.``, ``layer1..4`` -> ``res2..res5``, ``bnN`` -> ``convN.norm``, ``downsample.0`` ->
``shortcut``, ``downsample.1`` -> ``shortcut.norm``; values are numpy arrays; the file is
``{"model": ..., "__author__": ..., "matching_heuristics": True}``. Unlike MoCo's script, BN ``num_batches_tracked``
counters are skipped (detectron2's BN layers have none) and non-backbone keys are not carried.
detectron2 reads such a file with the PyTorch-style pixel conventions (RGB, ``STRIDE_IN_1X1: False``), as in
MoCo's ``detection/configs``.
"""
from torch import Tensor

from simsiam_mm.zoo.report import ConversionReport
from simsiam_mm.zoo.resnet import infer_resnet_arch, split_backbone
from simsiam_mm.zoo.torchvision_format import check_against_torchvision, refuse_cifar_stem

AUTHOR = 'simsiam_mm'


def detectron2_key(key: str) -> str:
    """MoCo's renaming of one torchvision-style ResNet key.

    Examples:
        >>> detectron2_key('bn1.weight'), detectron2_key('layer1.0.downsample.1.running_var')
        ('stem.conv1.norm.weight', 'res2.0.shortcut.norm.running_var')
    """
    if 'layer' not in key:
        key = 'stem.' + key
    for t in (1, 2, 3, 4):
        key = key.replace(f'layer{t}', f'res{t + 1}')
    for t in (1, 2, 3):
        key = key.replace(f'bn{t}', f'conv{t}.norm')
    return key.replace('downsample.0', 'shortcut').replace('downsample.1', 'shortcut.norm')


def simsiam_mm_to_detectron2(state_dict: dict[str, Tensor], source: str = 'checkpoint',
                             allow_unexpected: bool = False) -> tuple[dict, ConversionReport]:
    """The detectron2 checkpoint dict (pickle it) of a simsiam_mm backbone."""
    report = ConversionReport('simsiam_mm -> detectron2')
    split = ConversionReport('split')
    backbone = split_backbone(state_dict, source, split)
    report.skipped, report.unexpected = split.skipped, split.unexpected
    arch = infer_resnet_arch(backbone, source)
    refuse_cifar_stem(arch, source, 'detectron2 (BasicStem)')
    check_against_torchvision(backbone, arch, source, report,  # same architecture, same shapes
                              {key: src for src, key in split.converted})
    report.check_unexpected(source, allow_unexpected)
    model = {}
    for src, key in split.converted:
        if src in report.unexpected:
            continue
        if key.endswith('num_batches_tracked'):
            report.skipped.append((src, 'detectron2 BN has no num_batches_tracked'))
            continue
        model[detectron2_key(key)] = backbone[key].numpy()
        report.converted.append((src, detectron2_key(key)))
    return {'model': model, '__author__': AUTHOR, 'matching_heuristics': True}, report


def convert_detectron2_file(src: str, allow_unexpected: bool = False) -> tuple[dict, ConversionReport]:
    """:func:`simsiam_mm_to_detectron2` on a checkpoint file (full model or extracted backbone)."""
    from simsiam_mm.checkpoint import read_checkpoint, state_dict_of
    state_dict = state_dict_of(read_checkpoint(src), str(src))
    return simsiam_mm_to_detectron2(state_dict, str(src), allow_unexpected)
