"""The SimSiam projector: the MLP head of the encoder f."""
from typing import Sequence

from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from simsiam_mm.errors import ConfigError
from simsiam_mm.registry import MODELS


@MODELS.register_module()
class SimSiamProjector(BaseModule):
    """Global average pooling followed by the projection MLP.

    Paper, Sec. 4 (Baseline settings): "The projection MLP (in f) has BN applied to each fully-connected (fc) layer,
    including its output fc. Its output fc has no ReLU. The hidden fc is 2048-d. This MLP has 3 layers."
    Appendix (CIFAR): "the projection MLP has 2 layers". An fc followed by BN has no bias, and the output BN has no
    affine parameters, as in the official ``builder.py``. ``mlp`` has the same layer indices as the official
    ``encoder.fc`` (0 fc, 1 BN, 2 ReLU, 3 fc, 4 BN, 5 ReLU, 6 fc, 7 BN for 3 layers).

    Args:
        in_channels: channels of the last backbone stage (2048 for ResNet-50, 512 for ResNet-18).
        hid_channels: width of the hidden fc layers.
        out_channels: dimension d of the projection z.
        num_layers: number of fc layers (3 for ImageNet, 2 for CIFAR).
        norm_cfg: the normalisation after each fc (``SyncBN`` for multi-GPU runs, ``BN1d`` otherwise).
        act_cfg: the activation after each hidden fc.

    Examples:
        >>> import torch
        >>> f = SimSiamProjector(in_channels=64, hid_channels=32, out_channels=16, norm_cfg=dict(type='BN1d'))
        >>> f((torch.randn(4, 64, 7, 7),)).shape
        torch.Size([4, 16])
    """

    def __init__(self,
                 in_channels: int = 2048,
                 hid_channels: int = 2048,
                 out_channels: int = 2048,
                 num_layers: int = 3,
                 norm_cfg: dict = dict(type='SyncBN'),
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ConfigError(f'model.neck.num_layers (SimSiamProjector): num_layers must be >= 1, got {num_layers}')
        self.out_channels = out_channels
        dims = [in_channels] + [hid_channels] * (num_layers - 1) + [out_channels]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            is_output = i == num_layers - 1
            layers.append(nn.Linear(d_in, d_out, bias=False))  # no bias: the BN after it removes any shift
            layers.append(build_norm_layer(dict(norm_cfg, affine=not is_output), d_out)[1])  # output BN: affine=False
            if not is_output:
                layers.append(build_activation_layer(act_cfg))  # no ReLU after the output fc
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.mlp = nn.Sequential(*layers)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        x = self.pool(feats[-1]).flatten(1)  # NxCxHxW -> NxC_in (last backbone stage)
        return self.mlp(x)  # NxC_in -> Nxd
