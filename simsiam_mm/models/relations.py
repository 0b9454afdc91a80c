"""Sec. 6.2 of the paper (relations to other methods): SimCLR with SimSiam's predictor and stop-gradient added.

Paper (ImageNet linear top-1, 100 epochs, Sec. 6.2's SimCLR table, as filed in issue 24): SimCLR 66.5, with the
prediction MLP 66.4, with the prediction MLP and stop-gradient 66.0; SimSiam's parts are "not helpful" for a
contrastive method. The model is mmpretrain's ``SimCLR`` (its neck, head, buffers and gather), subclassed: the
contrastive similarities are between a view's prediction p = h(z) and every other view's projection z, the latter
a constant with ``stop_gradient``.
"""
import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup.simclr import GatherLayer, SimCLR
from mmpretrain.structures import DataSample
from torch import Tensor

from simsiam_mm.errors import ConfigError
from simsiam_mm.registry import MODELS


@MODELS.register_module()
class SimCLRWithPredictor(SimCLR):
    """mmpretrain's SimCLR with SimSiam's prediction MLP on the query side (paper Sec. 6.2).

    Each of the 2N views is a query p_i = h(z_i)/‖h(z_i)‖; the keys are the 2N projections z_j/‖z_j‖ (detached with
    ``stop_gradient``). The positive of a query is its image's other view, the negatives the other 2N − 2 keys (its
    own view's key is left out, as SimCLR leaves out z_i·z_i); the loss is mmpretrain's ``ContrastiveHead``.

    Args:
        predictor: config of h (e.g. ``SimSiamPredictor`` d → d/4 → d, d = the neck's output width).
        stop_gradient: the keys z are constants (paper: "+ pred. & stop-grad", 66.0).
        **kwargs: mmpretrain ``SimCLR``'s (backbone, neck, head, data_preprocessor, ...).

    Examples:
        >>> model = MODELS.build(dict(type='SimCLRWithPredictor', stop_gradient=True,
        ...     backbone=dict(type='mmpretrain.ResNet', depth=18),
        ...     neck=dict(type='mmpretrain.NonLinearNeck', in_channels=512, hid_channels=64, out_channels=16,
        ...               num_layers=2, norm_cfg=dict(type='BN1d')),
        ...     head=dict(type='mmpretrain.ContrastiveHead', loss=dict(type='mmpretrain.CrossEntropyLoss')),
        ...     predictor=dict(type='SimSiamPredictor', in_channels=16, hid_channels=4, out_channels=16,
        ...                    norm_cfg=dict(type='BN1d'))))
        >>> float(model.loss([torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)], None)['loss']) > 0
        True
    """

    def __init__(self, *args, predictor: dict, stop_gradient: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.predictor = MODELS.build(predictor)
        self.stop_gradient = stop_gradient

    def loss(self, inputs: list[Tensor], data_samples: list[DataSample] | None, **kwargs) -> dict[str, Tensor]:
        if len(inputs) != 2:
            raise ConfigError(f'SimCLRWithPredictor: got {len(inputs)} views per image; it takes 2 (the '
                              "pipeline's MultiView num_views=2)")
        x = torch.stack(inputs, 1).flatten(0, 1)  # (2N)xCxHxW, an image's two views adjacent (SimCLR's order)
        z = self.neck(self.backbone(x))[0]  # (2N)xd
        p = F.normalize(self.predictor(z), dim=1)  # (2N)xd, the queries
        z = F.normalize(z, dim=1)
        z = z.detach() if self.stop_gradient else z  # the keys: constants with stop-gradient
        p, z = torch.cat(GatherLayer.apply(p), dim=0), torch.cat(GatherLayer.apply(z), dim=0)
        s = p @ z.T  # (2N)x(2N): every query against every key
        mask, pos_idx, neg_mask = self._create_buffer(s.size(0) // 2, s.device)
        s = torch.masked_select(s, mask == 1).reshape(s.size(0), -1)  # without p_i·z_i: (2N)x(2N-1)
        positive = s[pos_idx].unsqueeze(1)  # (2N)x1: the image's other view
        negative = torch.masked_select(s, neg_mask == 1).reshape(s.size(0), -1)  # (2N)x(2N-2)
        return dict(loss=self.head.loss(positive, negative))
