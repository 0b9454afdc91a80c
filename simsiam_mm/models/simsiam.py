"""SimSiam in one file: projector, predictor, similarity D, collapse score and the algorithm.

Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021. Read it beside the official
``simsiam/builder.py``: the same layers in the same order (so checkpoint keys map one to one, see
``simsiam_mm/zoo/official.py``), plus the switches of the paper's ablations (Sec. 4: Tables 1-3 and the unnumbered
tables of Sec. 4.5-4.6), each defaulting to the method itself (the Sec. 5 variants: ``hypothesis.py``). Optional
parts are injected configs (``norm_cfg``, ``out_norm_cfg``, ``act_cfg``) and become ``nn.Identity()`` when absent,
so layer indices never move.
"""
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from simsiam_mm.errors import ConfigError
from simsiam_mm.registry import MODELS


# ---------------------------------------------------------------- the two MLP heads
def _norm(norm_cfg: dict | None, channels: int) -> nn.Module:
    """The normalisation layer ``norm_cfg`` describes, or ``nn.Identity()`` for ``None`` (no normalisation)."""
    return nn.Identity() if norm_cfg is None else build_norm_layer(norm_cfg, channels)[1]


def _out_norm_cfg(owner: str, norm_cfg: dict | None, out_norm_cfg: dict | None) -> dict | None:
    """``out_norm_cfg`` without a ``type`` updates ``norm_cfg`` (``dict(affine=False)``: the same norm, no affine)."""
    if out_norm_cfg is None or 'type' in out_norm_cfg:
        return out_norm_cfg
    if norm_cfg is None:
        raise ConfigError(f'{owner}.out_norm_cfg={out_norm_cfg} has no type and norm_cfg is None: give it a type '
                          "(e.g. dict(type='BN1d')) or set out_norm_cfg=None for no output normalisation")
    return {**norm_cfg, **out_norm_cfg}


def _mlp(dims: Sequence[int], norm_cfg: dict | None, out_norm_cfg: dict | None, act_cfg: dict) -> nn.Sequential:
    """fc-norm-act for each hidden layer, fc-norm for the output. An fc followed by a norm has no bias (the norm
    removes any shift, as the official ``builder.py`` does); without a norm it keeps its bias."""
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        norm = norm_cfg if i < len(dims) - 2 else out_norm_cfg
        layers.append(nn.Linear(d_in, d_out, bias=norm is None))  # fc
        layers.append(_norm(norm, d_out))  # BN (or Identity)
        if i < len(dims) - 2:
            layers.append(build_activation_layer(act_cfg))  # ReLU; none after the output fc
    return nn.Sequential(*layers)


@MODELS.register_module()
class SimSiamProjector(BaseModule):
    """Global average pooling followed by the projection MLP (the head of the encoder f).

    Paper, Sec. 4 (Baseline settings): "The projection MLP (in f) has BN applied to each fully-connected (fc) layer,
    including its output fc. Its output fc has no ReLU. The hidden fc is 2048-d. This MLP has 3 layers."
    Appendix (CIFAR): "the projection MLP has 2 layers". The output BN has no affine parameters, as in the official
    ``builder.py``; ``mlp`` has its ``encoder.fc`` layer indices (0 fc, 1 BN, 2 ReLU, 3 fc, 4 BN, 5 ReLU, 6 fc, 7 BN).

    Args:
        in_channels: channels of the last backbone stage (2048 for ResNet-50, 512 for ResNet-18).
        hid_channels: width of the hidden fc layers.
        out_channels: dimension d of the projection z.
        num_layers: number of fc layers (3 for ImageNet, 2 for CIFAR).
        norm_cfg: the norm after each hidden fc (``SyncBN`` multi-GPU, ``BN1d`` otherwise); ``None``: no BN
            (paper Table 3).
        out_norm_cfg: the norm after the output fc; without a ``type`` it updates ``norm_cfg``. ``None``: none
            (Table 3, "hidden only").
        act_cfg: the activation after each hidden fc.

    Examples:
        >>> f = SimSiamProjector(in_channels=64, hid_channels=32, out_channels=16, norm_cfg=dict(type='BN1d'))
        >>> f((torch.randn(4, 64, 7, 7),)).shape
        torch.Size([4, 16])
        >>> type(SimSiamProjector(64, 32, 16, norm_cfg=dict(type='BN1d'), out_norm_cfg=None).mlp[-1]).__name__
        'Identity'
    """

    def __init__(self, in_channels: int = 2048, hid_channels: int = 2048, out_channels: int = 2048,
                 num_layers: int = 3, norm_cfg: dict | None = dict(type='SyncBN'),
                 out_norm_cfg: dict | None = dict(affine=False), act_cfg: dict = dict(type='ReLU', inplace=True),
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ConfigError(f'model.neck.num_layers={num_layers}: the projector needs at least 1 fc layer')
        dims = [in_channels] + [hid_channels] * (num_layers - 1) + [out_channels]
        out_norm_cfg = _out_norm_cfg('model.neck', norm_cfg, out_norm_cfg)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.mlp = _mlp(dims, norm_cfg, out_norm_cfg, act_cfg)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        x = self.pool(feats[-1]).flatten(1)  # NxCxHxW -> NxC_in (last backbone stage)
        return self.mlp(x)  # NxC_in -> Nxd


@MODELS.register_module()
class SimSiamPredictor(BaseModule):
    """The prediction MLP h, a bottleneck.

    Paper, Sec. 4: "The prediction MLP (h) has BN applied to its hidden fc layers. Its output fc does not have BN or
    ReLU. This MLP has 2 layers. The dimension of h's input and output (z and p) is d = 2048, and h's hidden layer's
    dimension is 512, making h a bottleneck structure." ``mlp`` has the official ``predictor`` layer indices.

    Args:
        norm_cfg: the norm after the hidden fc; ``None``: none (paper Table 3, "none").
        out_norm_cfg: a norm after the output fc (Table 3, row "all": "unstable", no number); without a ``type``
            it updates ``norm_cfg``. Default ``None``: none, as in the paper.

    Examples:
        >>> h = SimSiamPredictor(in_channels=16, hid_channels=4, out_channels=16, norm_cfg=dict(type='BN1d'))
        >>> h(torch.randn(8, 16)).shape
        torch.Size([8, 16])
    """

    def __init__(self, in_channels: int = 2048, hid_channels: int = 512, out_channels: int = 2048,
                 norm_cfg: dict | None = dict(type='SyncBN'), out_norm_cfg: dict | None = None,
                 act_cfg: dict = dict(type='ReLU', inplace=True), init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        out_norm_cfg = _out_norm_cfg('model.head.predictor', norm_cfg, out_norm_cfg)
        self.mlp = _mlp([in_channels, hid_channels, out_channels], norm_cfg, out_norm_cfg, act_cfg)

    def forward(self, z: Tensor) -> Tensor:
        return self.mlp(z)  # Nxd -> Nxd


# ---------------------------------------------------------------- the similarity D and the collapse score
@MODELS.register_module()
class NegativeCosineSimilarity(nn.Module):
    """D(p, z) = - p/||p||_2 · z/||z||_2 (paper Eq. 1), averaged over the batch; it lies in [-1, 1].

    Examples:
        >>> p, z = torch.randn(8, 16), torch.randn(8, 16)
        >>> bool(-1 <= NegativeCosineSimilarity()(p, z.detach()) <= 1)  # stop-gradient: the caller's choice
        True
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, p: Tensor, z: Tensor) -> Tensor:
        p, z = p.float(), z.float()  # float32 even under bf16/fp16 autocast (no-op otherwise)
        return -F.cosine_similarity(p, z, dim=1, eps=self.eps).mean()  # NxC, NxC -> scalar


@MODELS.register_module()
class CrossEntropySimilarity(nn.Module):
    """D(p, z) = - softmax(z) · log softmax(p), softmax over channels, averaged over the batch: the paper's
    cross-entropy similarity (Sec. 4.5, an unnumbered table: 63.2 vs 68.1 for the cosine, ImageNet linear top-1).

    It is the cross-entropy H(softmax(z), softmax(p)) >= H(softmax(z)) >= 0, with equality in the first where
    softmax(p) = softmax(z); it is not symmetric in (p, z).

    Examples:
        >>> z = torch.randn(8, 16)
        >>> D = CrossEntropySimilarity()
        >>> bool(D(z, z) <= D(torch.randn(8, 16), z))  # p = z minimises it
        True
    """

    def forward(self, p: Tensor, z: Tensor) -> Tensor:
        p, z = p.float(), z.float()
        return -(z.softmax(dim=1) * p.log_softmax(dim=1)).sum(dim=1).mean()  # NxC, NxC -> N -> scalar


@torch.no_grad()
def collapse_std(z: Tensor) -> Tensor:
    """Mean over channels of the per-channel std of z/||z|| (paper Sec. 4.1, Fig. 2 middle).

    "If the outputs collapse to a constant vector, their std over all samples should be zero for each channel. [...]
    if z has a zero-mean isotropic Gaussian distribution, [...] the standard deviation of z/||z|| is 1/sqrt(d)."
    So ``collapse_std(z) * sqrt(d)`` (``z_std_x_sqrt_d``, :meth:`SimSiam.loss`) is about 1 while training is healthy
    and falls towards 0 on collapse.

    Examples:
        >>> z = torch.randn(4096, 256)
        >>> round(float(collapse_std(z) * 256 ** 0.5), 1)
        1.0
        >>> float(collapse_std(torch.ones(8, 256)))
        0.0
    """
    return F.normalize(z.float(), dim=1).std(dim=0).mean()  # NxC -> C -> scalar


# ---------------------------------------------------------------- the loss around the predictor
@MODELS.register_module()
class SimSiamHead(BaseModule):
    """Predictor h plus the loss L = ½·D(p1, stopgrad(z2)) + ½·D(p2, stopgrad(z1)) (paper Eq. 3-4).

    Args:
        predictor: config of h; ``None`` removes it (h = identity, Table 1 "no pred. MLP": collapses).
        loss: config of the similarity D (Sec. 4.5: ``NegativeCosineSimilarity`` or ``CrossEntropySimilarity``).
        stop_gradient: ``False`` lets gradients reach the target branch (Fig. 2 "w/o stop-grad": collapses).
        symmetric: ``False`` keeps only D(p1, stopgrad(z2)) (Sec. 4.6 "asym.").
        freeze_predictor: keep h at its random initialisation (Table 1 "fixed random init.": does not work).

    Examples:
        >>> head = SimSiamHead(predictor=dict(type='SimSiamPredictor', in_channels=16, hid_channels=4,
        ...                                   out_channels=16, norm_cfg=dict(type='BN1d')))
        >>> sorted(head.loss(torch.randn(8, 16), torch.randn(8, 16)))
        ['loss']
    """

    def __init__(self, predictor: dict | None = dict(type='SimSiamPredictor'),
                 loss: dict = dict(type='NegativeCosineSimilarity'), stop_gradient: bool = True,
                 symmetric: bool = True, freeze_predictor: bool = False, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.predictor = nn.Identity() if predictor is None else MODELS.build(predictor)
        self.predictor.requires_grad_(not freeze_predictor)
        self.criterion = MODELS.build(loss)
        self.stop_gradient = stop_gradient
        self.symmetric = symmetric

    def loss(self, z1: Tensor, z2: Tensor, targets: tuple[Tensor, Tensor] | None = None) -> dict[str, Tensor]:
        """``targets``: the targets of p1 and p2, default (z2, z1) — given by the Sec. 5.2 variants (cached or
        moving-average targets, :mod:`simsiam_mm.models.hypothesis`); they are constants (no gradient)."""
        p1, p2 = self.predictor(z1), self.predictor(z2)  # NxC predictions
        if targets is not None:
            z2, z1 = (t.detach() for t in targets)  # p1 predicts targets[0], p2 predicts targets[1]
        elif self.stop_gradient:
            z1, z2 = z1.detach(), z2.detach()  # stop-gradient: z is a constant target
        D = self.criterion
        loss = 0.5 * D(p1, z2) + 0.5 * D(p2, z1) if self.symmetric else D(p1, z2)
        return dict(loss=loss)


# ---------------------------------------------------------------- the algorithm
@MODELS.register_module()
class SimSiam(BaseSelfSupervisor):
    """SimSiam: encoder f = ``backbone`` + ``neck`` (the projector), ``head`` = predictor h + the loss.

    Paper, Sec. 3: "two augmented views x1 and x2 of an image x are processed by the same encoder network f (a
    backbone plus a projection MLP head). Then a prediction MLP head h transforms the output of one view and matches
    it to the other view." The backbone lives at ``model.backbone`` so checkpoint keys start with ``backbone.`` and
    mmdet/mmseg load them with ``init_cfg=dict(type='Pretrained', prefix='backbone.')``.

    The views come in pairs: 2 views (the method) or 2k views = k pairs per image, the loss averaged over pairs
    (Sec. 4.6 "asym. 2x": ``MultiView(num_views=4)`` with ``symmetric=False``). Besides ``loss`` the returned dict has
    the collapse score of view 1's projection: ``z_std`` (:func:`collapse_std`) and ``z_std_x_sqrt_d`` (about 1
    healthy, 0 collapsed), logged and watched by :class:`CollapseMonitorHook`.

    Examples:
        >>> model = SimSiam(backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8, stem_channels=8),
        ...                 neck=dict(type='SimSiamProjector', in_channels=64, hid_channels=32, out_channels=16,
        ...                           num_layers=2, norm_cfg=dict(type='BN1d')),
        ...                 head=dict(type='SimSiamHead', predictor=dict(
        ...                     type='SimSiamPredictor', in_channels=16, hid_channels=4, out_channels=16,
        ...                     norm_cfg=dict(type='BN1d'))))
        >>> sorted(model.loss([torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)], None))
        ['loss', 'z_std', 'z_std_x_sqrt_d']
    """

    def __init__(self, backbone: dict | nn.Module, neck: dict | nn.Module, head: dict | nn.Module,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        # Build the parts in our registry scope (our classes first, then mmpretrain's), whatever the default scope.
        backbone, neck, head = (m if isinstance(m, nn.Module) else MODELS.build(m) for m in (backbone, neck, head))
        super().__init__(backbone=backbone, neck=neck, head=head, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        return self.backbone(inputs)  # tuple of NxCxHxW stage outputs

    def loss(self, inputs: list[Tensor], data_samples: list[DataSample] | None) -> dict[str, Tensor]:
        if len(inputs) < 2 or len(inputs) % 2:
            raise ConfigError(f'SimSiam got {len(inputs)} views per image: the pipeline\'s MultiView num_views must '
                              'be even (2: the method; 4: two pairs per image, Sec. 4.6 "asym. 2x")')
        losses, z_std = [], None
        for x1, x2 in zip(inputs[0::2], inputs[1::2]):  # a pair of augmented views, each Nx3xHxW
            z1 = self.neck(self.backbone(x1))  # NxC projections
            z2 = self.neck(self.backbone(x2))  # NxC
            losses.append(self.head.loss(z1, z2)['loss'])  # ½·D(p1, z2.detach()) + ½·D(p2, z1.detach())
            z_std = collapse_std(z1) if z_std is None else z_std  # of view 1's projection
        d = z1.size(1)  # the one place d enters the collapse score
        return dict(loss=torch.stack(losses).mean(), z_std=z_std, z_std_x_sqrt_d=z_std * math.sqrt(d))
