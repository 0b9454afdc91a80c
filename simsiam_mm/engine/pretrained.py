"""``init_cfg=dict(type='CheckedPretrained', checkpoint=..., prefix='backbone.')``: pretrained weights that are
checked before they are loaded.

mmengine's ``Pretrained`` initializer loads with ``strict=False``: a checkpoint saved under other key names (a
torchvision file without the ``backbone.`` prefix, the whole SimSiam model loaded into a bare ResNet without
``prefix``, a ResNet-50 loaded into a ResNet-18) only logs a list of missing keys, and the run trains a randomly
initialised backbone while reporting it as SimSiam-pretrained. ``CheckedPretrained`` reads the file through
:mod:`simsiam_mm.checkpoint` and refuses it in one line (file, tensors matched, fix) unless the weights land.

It is registered in mmengine's root ``WEIGHT_INITIALIZERS`` as well as in the ``simsiam_mm`` scope, so mmpretrain,
mmdet and mmseg configs name it plainly once ``custom_imports=dict(imports=['simsiam_mm'])`` has run.
"""
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit
from mmengine.registry import WEIGHT_INITIALIZERS as ROOT_WEIGHT_INITIALIZERS
from torch import nn

from simsiam_mm.checkpoint import WeightsCheck, load_pretrained
from simsiam_mm.errors import CheckpointError
from simsiam_mm.registry import WEIGHT_INITIALIZERS


@ROOT_WEIGHT_INITIALIZERS.register_module(name='CheckedPretrained')
@WEIGHT_INITIALIZERS.register_module(name='CheckedPretrained')
class CheckedPretrainedInit(PretrainedInit):
    """mmengine's ``Pretrained`` with :func:`simsiam_mm.checkpoint.check_weights` before the load.

    Args:
        checkpoint: path or URL of the checkpoint.
        prefix: keep only the keys starting with it, stripped (``'backbone.'`` for a SimSiam checkpoint).
        map_location: accepted for compatibility with ``Pretrained``; tensors are always read on the CPU.
        min_fraction: the least fraction of the module's tensors the checkpoint must supply (1.0: all of them;
            the C4 detectors' res5 head, which adds one norm layer to ``backbone.layer4``, uses less).

    The check (tensors loaded, of how many) stays with the initialised module (:meth:`check_of`), which the
    downstream runner reports per module.
    """

    #: the attribute of an initialised module that holds its :class:`~simsiam_mm.checkpoint.WeightsCheck`
    CHECK_ATTR = 'pretrained_check'

    def __init__(self, checkpoint: str, prefix: str | None = None, map_location: str = 'cpu',
                 min_fraction: float = 1.0) -> None:
        super().__init__(checkpoint, prefix=prefix, map_location=map_location)
        self.min_fraction = min_fraction

    def __call__(self, module: nn.Module) -> None:
        source = str(self.checkpoint)
        if not source:
            raise CheckpointError("init_cfg.checkpoint: empty, so there are no pretrained weights to load — pass "
                                  "--cfg-options model.backbone.init_cfg.checkpoint=PATH/TO/simsiam_checkpoint.pth")
        check = load_pretrained(module, source, self.prefix, self.min_fraction)
        if getattr(module, 'zero_init_residual', False):
            # mmpretrain's ResNet.init_weights zeroes the last BN of every block after this initializer ran, unless
            # its init type is exactly 'Pretrained' (mmpretrain/models/backbones/resnet.py); pretrained weights
            # supersede zero-init there, and must here too, or the loaded BN weights would be silently overwritten
            module.zero_init_residual = False
        setattr(module, self.CHECK_ATTR, check)
        print_log(f'{source}: {check.summary()}', logger='current')

    @classmethod
    def check_of(cls, module: nn.Module) -> WeightsCheck | None:
        """How ``module`` was initialised by this initializer (``None``: it was not)."""
        return getattr(module, cls.CHECK_ATTR, None)

    def _get_init_info(self) -> str:
        return f'{self.__class__.__name__}: load from {self.checkpoint} (checked)'
