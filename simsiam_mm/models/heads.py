"""The SimSiam predictor h and the symmetrized stop-gradient loss around it."""
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from simsiam_mm.registry import MODELS


@MODELS.register_module()
class SimSiamPredictor(BaseModule):
    """The prediction MLP h, a bottleneck.

    Paper, Sec. 4: "The prediction MLP (h) has BN applied to its hidden fc layers. Its output fc does not have BN or
    ReLU. This MLP has 2 layers. The dimension of h's input and output (z and p) is d = 2048, and h's hidden layer's
    dimension is 512, making h a bottleneck structure." ``mlp`` has the official ``predictor`` layer indices.

    Examples:
        >>> import torch
        >>> h = SimSiamPredictor(in_channels=16, hid_channels=4, out_channels=16, norm_cfg=dict(type='BN1d'))
        >>> h(torch.randn(8, 16)).shape
        torch.Size([8, 16])
    """

    def __init__(self,
                 in_channels: int = 2048,
                 hid_channels: int = 512,
                 out_channels: int = 2048,
                 norm_cfg: dict = dict(type='SyncBN'),
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hid_channels, bias=False),  # hidden fc, no bias before BN
            build_norm_layer(norm_cfg, hid_channels)[1],  # BN
            build_activation_layer(act_cfg),  # ReLU
            nn.Linear(hid_channels, out_channels),  # output fc: no BN, no ReLU
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.mlp(z)  # Nxd -> Nxd


@MODELS.register_module()
class SimSiamHead(BaseModule):
    """Predictor plus the loss L = ½·D(p1, stopgrad(z2)) + ½·D(p2, stopgrad(z1)) (paper Eq. 3-4).

    The switches reproduce the paper's ablations (Sec. 4.1-4.2, Tables 1 and 5); all default to the method itself.

    Args:
        predictor: config of h; ``None`` removes it (h = identity, "no pred. MLP": collapses).
        loss: config of the similarity D.
        stop_gradient: ``False`` lets gradients reach the target branch ("w/o stop-grad": collapses).
        symmetric: ``False`` keeps only D(p1, stopgrad(z2)) ("asym.").
        freeze_predictor: keep h fixed at its random initialisation ("fixed random init.": does not work).

    Examples:
        >>> import torch
        >>> head = SimSiamHead(predictor=dict(type='SimSiamPredictor', in_channels=16, hid_channels=4,
        ...                                   out_channels=16, norm_cfg=dict(type='BN1d')))
        >>> losses = head.loss(torch.randn(8, 16), torch.randn(8, 16))
        >>> sorted(losses)
        ['loss']
    """

    def __init__(self,
                 predictor: dict | None = dict(type='SimSiamPredictor'),
                 loss: dict = dict(type='NegativeCosineSimilarity'),
                 stop_gradient: bool = True,
                 symmetric: bool = True,
                 freeze_predictor: bool = False,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.predictor = MODELS.build(predictor) if predictor is not None else nn.Identity()
        if freeze_predictor:
            self.predictor.requires_grad_(False)
        self.criterion = MODELS.build(loss)
        self.stop_gradient = stop_gradient
        self.symmetric = symmetric

    def loss(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        p1, p2 = self.predictor(z1), self.predictor(z2)  # NxC predictions
        if self.stop_gradient:
            z1, z2 = z1.detach(), z2.detach()  # stop-gradient: z is a constant target
        D = self.criterion
        loss = 0.5 * D(p1, z2) + 0.5 * D(p2, z1) if self.symmetric else D(p1, z2)
        return dict(loss=loss)
