"""Model zoo: publish and verify checkpoints; convert to and from the official, torchvision and detectron2 formats.

Every converter returns ``(output, ConversionReport)``; the report counts converted, skipped, unexpected and added keys,
and a converter raises :class:`ConversionError` (naming the file or key) on a shape mismatch, a checkpoint without
backbone keys, or keys it does not recognise. Files are read and written through :mod:`simsiam_mm.checkpoint`.
``tools/model_converters/*.py`` are thin command lines around these functions; ``docs/model_zoo.md`` shows the commands.
"""
from .detectron2_format import convert_detectron2_file, detectron2_key, simsiam_mm_to_detectron2
from .model import build_model, infer_model_cfg, load_strict
from .official import convert_official_file, convert_to_official_file, official_to_simsiam_mm, simsiam_mm_to_official
from .publish import PublishResult, VerificationError, VerifyResult, publish_checkpoint, verify_published
from .report import ConversionError, ConversionReport
from .resnet import ResNetArch, extract_backbone_file, infer_resnet_arch, split_backbone
from .torchvision_format import convert_torchvision_file, simsiam_mm_to_torchvision, torchvision_resnet

__all__ = [
    'ConversionError', 'ConversionReport', 'VerificationError', 'PublishResult', 'VerifyResult', 'ResNetArch',
    'split_backbone', 'infer_resnet_arch',
    'infer_model_cfg', 'build_model', 'load_strict', 'official_to_simsiam_mm', 'simsiam_mm_to_official',
    'convert_official_file', 'convert_to_official_file', 'simsiam_mm_to_torchvision', 'torchvision_resnet',
    'simsiam_mm_to_detectron2', 'detectron2_key', 'extract_backbone_file', 'convert_torchvision_file',
    'convert_detectron2_file', 'publish_checkpoint', 'verify_published',
]
