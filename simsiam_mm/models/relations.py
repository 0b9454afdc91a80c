"""Sec. 6.2 of the paper (relations to other methods): SimSiam's predictor and stop-gradient in SimCLR and SwAV.

Paper (ImageNet linear top-1, 100 epochs, Sec. 6.2's tables, as filed in issue 24): SimCLR 66.5, with the
prediction MLP 66.4, with the prediction MLP and stop-gradient 66.0; SwAV 66.5, with the prediction MLP 65.2,
without stop-gradient NaN. Both models are mmpretrain's (``SimCLR``, ``SwAV``: their necks, heads, prototypes,
buffers and gathers), subclassed: a view's prediction p = h(z) takes the place of its projection z on the predicting
side; the other side (SimCLR's keys, SwAV's codes) is computed from z, a constant with stop-gradient.
"""
import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmpretrain.models.losses.swav_loss import distributed_sinkhorn
from mmpretrain.models.selfsup.simclr import GatherLayer, SimCLR
from mmpretrain.models.selfsup.swav import SwAV
from mmpretrain.structures import DataSample
from torch import Tensor, nn

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


def sinkhorn(scores: Tensor, iterations: int, epsilon: float) -> Tensor:
    """SwAV's codes from prototype scores by Sinkhorn-Knopp, written without in-place steps so that gradients flow
    through it (SwAV without stop-gradient). On one process it equals mmpretrain's ``distributed_sinkhorn`` (tested),
    which runs under ``torch.no_grad`` and is used wherever the codes are constants.

    Args:
        scores: BxK, each sample's similarity to the K prototypes.

    Returns:
        BxK codes: each row sums to 1 (an assignment), each prototype gets 1/K of the batch.
    """
    q = torch.exp(scores / epsilon).T  # KxB
    q = q / q.sum()
    k, b = q.shape
    for _ in range(iterations):
        q = q / q.sum(dim=1, keepdim=True) / k  # rows: every prototype 1/K of the mass
        q = q / q.sum(dim=0, keepdim=True) / b  # columns: every sample 1/B
    return (q * b).T  # BxK


@MODELS.register_module()
class SwAVWithPredictor(SwAV):
    """mmpretrain's SwAV (two views, no queue) with SimSiam's prediction MLP and a stop-gradient switch (paper
    Sec. 6.2).

    Each view's codes q come from its projection z (Sinkhorn-Knopp on z's prototype scores, mmpretrain's
    ``SwAVLoss`` settings: epsilon, iterations, prototypes); the other view predicts them from p = h(z)/‖h(z)‖
    (softmax of p's prototype scores / temperature): L = ½ Σ_{a≠b} −q_a · log softmax(C p_b / τ). With no predictor
    and stop-gradient this is mmpretrain's ``SwAV`` loss (tested to 1e-6).

    Args:
        predictor: config of h (e.g. ``SimSiamPredictor`` d → d/4 → d, d = the neck's output width); None: h is the
            identity (SwAV itself).
        stop_gradient: the codes are constants, as in SwAV (False: gradients flow through Sinkhorn-Knopp, paper
            "remove stop-grad": NaN; one process only).
        **kwargs: mmpretrain ``SwAV``'s (backbone, neck, head with ``SwAVLoss``, data_preprocessor, ...).

    Examples:
        >>> model = MODELS.build(dict(type='SwAVWithPredictor',
        ...     backbone=dict(type='mmpretrain.ResNet', depth=18),
        ...     neck=dict(type='mmpretrain.SwAVNeck', in_channels=512, hid_channels=64, out_channels=16),
        ...     head=dict(type='mmpretrain.SwAVHead', loss=dict(type='mmpretrain.SwAVLoss', feat_dim=16,
        ...                                                    num_prototypes=30)),
        ...     predictor=dict(type='SimSiamPredictor', in_channels=16, hid_channels=4, out_channels=16,
        ...                    norm_cfg=dict(type='BN1d'))))
        >>> float(model.loss([torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)], None)['loss']) > 0
        True
    """

    def __init__(self, *args, predictor: dict | None = None, stop_gradient: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.predictor = MODELS.build(predictor) if predictor is not None else nn.Identity()
        self.stop_gradient = stop_gradient

    def loss(self, inputs: list[Tensor], data_samples: list[DataSample] | None, **kwargs) -> dict[str, Tensor]:
        swav = self.head.loss_module  # mmpretrain's SwAVLoss: prototypes, epsilon, temperature, iterations
        if len(inputs) != 2:
            raise ConfigError(f'SwAVWithPredictor: got {len(inputs)} views per image; it takes 2 (the '
                              "pipeline's MultiView num_views=2)")
        if swav.queue is not None:
            raise ConfigError('SwAVWithPredictor has no feature queue: set the SwAVHook\'s queue_length=0')
        if not self.stop_gradient and dist.is_initialized() and dist.get_world_size() > 1:
            raise ConfigError('SwAVWithPredictor with stop_gradient=False runs on one process (its Sinkhorn-Knopp '
                              'has no gradient-carrying all-reduce): train it with tools/train.py')
        with torch.no_grad():  # the prototypes on the unit sphere before every step, as SwAVLoss does
            swav.prototypes.weight.copy_(F.normalize(swav.prototypes.weight, dim=1))
        n = inputs[0].size(0)
        z = self.neck([self.backbone(torch.cat(inputs))])  # 2NxD, L2-normalised by SwAVNeck; rows view 1, view 2
        p = z if isinstance(self.predictor, nn.Identity) else F.normalize(self.predictor(z), dim=1)  # 2NxD
        scores = swav.prototypes(z)  # 2NxK: the codes come from these
        log_pred = F.log_softmax(swav.prototypes(p) / swav.temperature, dim=1)  # 2NxK: the predictions
        loss = 0
        for a, b in ((0, 1), (1, 0)):  # view a's codes, predicted from view b
            s = scores[a * n:(a + 1) * n]
            q = (distributed_sinkhorn(s.detach(), swav.sinkhorn_iterations, swav.world_size, swav.epsilon)
                 if self.stop_gradient else sinkhorn(s, swav.sinkhorn_iterations, swav.epsilon))  # NxK
            loss = loss - (q * log_pred[b * n:(b + 1) * n]).sum(dim=1).mean()
        return dict(loss=loss / 2)
