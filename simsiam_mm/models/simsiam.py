"""SimSiam: the whole algorithm in one place (backbone and projector = encoder f, head = predictor h + loss)."""
from torch import Tensor, nn

from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from simsiam_mm.models.losses import collapse_std
from simsiam_mm.registry import MODELS


@MODELS.register_module()
class SimSiam(BaseSelfSupervisor):
    """SimSiam (Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021).

    Paper, Sec. 3: "two augmented views x1 and x2 of an image x are processed by the same encoder network f (a
    backbone plus a projection MLP head). Then a prediction MLP head h transforms the output of one view and matches
    it to the other view." The encoder is ``backbone`` followed by ``neck`` (the projector); ``head`` holds the
    predictor and the stop-gradient loss. The backbone lives at ``model.backbone`` so checkpoint keys start with
    ``backbone.`` and mmdet/mmseg load them with ``init_cfg=dict(type='Pretrained', prefix='backbone.')``.

    Besides ``loss`` the returned dict has ``z_std``: :func:`collapse_std` of view 1's projection (not a loss; it is
    logged and watched by :class:`CollapseMonitorHook`).
    """

    def __init__(self, backbone: dict | nn.Module, neck: dict | nn.Module, head: dict | nn.Module,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        # Build the parts in our registry scope (our classes first, then mmpretrain's), whatever the default scope.
        backbone, neck, head = (m if isinstance(m, nn.Module) else MODELS.build(m) for m in (backbone, neck, head))
        super().__init__(backbone=backbone, neck=neck, head=head, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        return self.backbone(inputs)  # tuple of NxCxHxW stage outputs

    def loss(self, inputs: list[Tensor], data_samples: list[DataSample]) -> dict[str, Tensor]:
        x1, x2 = inputs  # two augmented views, each Nx3xHxW
        z1 = self.neck(self.backbone(x1))  # NxC projections
        z2 = self.neck(self.backbone(x2))  # NxC
        losses = self.head.loss(z1, z2)  # ½·D(p1, z2.detach()) + ½·D(p2, z1.detach())
        losses['z_std'] = collapse_std(z1)
        return losses
