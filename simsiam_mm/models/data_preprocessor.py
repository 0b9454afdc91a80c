"""The self-supervised data preprocessor, with an optional channels-last (NHWC) memory layout for the views."""
import torch
from mmpretrain.models import SelfSupDataPreprocessor
from torch import Tensor

from simsiam_mm.registry import MODELS


@MODELS.register_module()
class SimSiamDataPreprocessor(SelfSupDataPreprocessor):
    """``SelfSupDataPreprocessor`` (BGR->RGB, float, normalise each view) that can hand the views over channels-last.

    oneDNN (CPU) and cuDNN (GPU, tensor cores) run convolutions fastest on NHWC tensors, and a convolution whose
    input is channels-last returns channels-last, so converting the views once here keeps the whole backbone, forward
    and backward, in that layout. Values are unchanged: only the strides differ.

    Args:
        channels_last: return each view as a ``torch.channels_last`` tensor.
        **kwargs: the arguments of ``SelfSupDataPreprocessor`` (``mean``, ``std``, ``to_rgb``, ...).

    Examples:
        >>> pre = SimSiamDataPreprocessor(mean=[0., 0., 0.], std=[1., 1., 1.], channels_last=True)
        >>> views = [torch.zeros(2, 3, 8, 8, dtype=torch.uint8)] * 2
        >>> out = pre(dict(inputs=views, data_samples=None))
        >>> out['inputs'][0].is_contiguous(memory_format=torch.channels_last)
        True
    """

    def __init__(self, *args, channels_last: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.channels_last = channels_last

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        if self.channels_last:
            inputs = data['inputs']
            data['inputs'] = ([self._to_channels_last(x) for x in inputs] if isinstance(inputs, list)
                              else self._to_channels_last(inputs))
        return data

    @staticmethod
    def _to_channels_last(x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x  # NxCxHxW, NHWC strides
