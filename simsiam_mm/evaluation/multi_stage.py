"""Per-stage linear probing (feature1-feature5): a ResNet exposing its stem and every stage, and one linear head per
stage, all trained at once on the frozen backbone (Goyal et al. 2019 benchmark; mmselfsup's multi-head protocol)."""
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.models.backbones import ResNet
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from simsiam_mm.errors import ConfigError
from simsiam_mm.registry import MODELS

from .pooling import SPECIFIED_POOL_PARAMS, check_pool_input, pooled_side, stage_sides


@MODELS.register_module()
class ResNetAllStages(ResNet):
    """mmpretrain's ResNet whose ``out_indices`` count the stem as 0 and res2..res5 as 1..4 (feature1..feature5).

    The stem output is taken after conv1/bn1/relu and before the max-pool (112x112 at 224 px), as in mmselfsup 1.x's
    ResNet and Goyal et al.'s conv1 probe. Parameters and state-dict keys are mmpretrain's (= torchvision's), so a
    SimSiam checkpoint loads with ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.

    Examples:
        >>> net = ResNetAllStages(depth=18, out_indices=(0, 4))
        >>> [tuple(f.shape) for f in net(torch.randn(1, 3, 64, 64))]
        [(1, 64, 32, 32), (1, 512, 2, 2)]
    """

    def __init__(self, depth: int, out_indices: Sequence[int] = (0, 1, 2, 3, 4), **kwargs) -> None:
        num_stages = kwargs.get('num_stages', 4)
        bad = [i for i in out_indices if not 0 <= i <= num_stages]
        if bad:
            raise ConfigError(f'ResNetAllStages: out_indices {bad} outside 0 (stem) .. {num_stages} (last stage)')
        super().__init__(depth, out_indices=(num_stages - 1, ), **kwargs)
        self.stage_indices = tuple(out_indices)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.stem(x) if self.deep_stem else self.relu(self.norm1(self.conv1(x)))  # Nx64xH/2xW/2
        outs = [x] if 0 in self.stage_indices else []
        x = self.maxpool(x)
        for i, name in enumerate(self.res_layers, start=1):
            x = getattr(self, name)(x)  # NxC_ixH_ixW_i
            if i in self.stage_indices:
                outs.append(x)
        return tuple(outs)


@MODELS.register_module()
class MultiStageLinearHead(BaseModule):
    """One linear classifier per backbone output: the reference's fixed average-pooling window for that stage
    (:mod:`simsiam_mm.evaluation.pooling`, ~9k dims at 224 px), a BN without affine parameters, flatten, fc. The losses
    are summed (each head learns only from its own stage: the inputs are frozen features), and every head's scores are
    kept for :class:`MultiHeadAccuracy`.

    Args:
        in_channels: channels of each input stage (ResNet-50: 64, 256, 512, 1024, 2048).
        pool_params: ``nn.AvgPool2d`` arguments per stage (default: mmselfsup 0.x ``MultiPooling`` 'specified'
            windows, ``SPECIFIED_POOL_PARAMS``).
        feat_sizes: side of each input stage at the training resolution, which sizes the fcs (default: a ResNet at
            224 px, 112/56/28/14/7 -> pooled 12/6/4/3/2 -> 9216, 9216, 8192, 9216, 8192 dims for ResNet-50).
        num_classes: classes.
        names: a name per head, used in logs and metrics (default feature1..featureN).
        norm_cfg: normalisation after pooling (``None`` for none).
        loss: the classification loss config.

    Examples:
        >>> head = MultiStageLinearHead(in_channels=(8, 16), pool_params=(dict(kernel_size=3, stride=3),) * 2,
        ...                             feat_sizes=(6, 3), num_classes=3)
        >>> feats = (torch.randn(4, 8, 6, 6), torch.randn(4, 16, 3, 3))
        >>> [tuple(s.shape) for s in head(feats)], [fc.in_features for fc in head.fcs]
        ([(4, 3), (4, 3)], [32, 16])
    """

    def __init__(self,
                 in_channels: Sequence[int] = (64, 256, 512, 1024, 2048),
                 pool_params: Sequence[dict] = SPECIFIED_POOL_PARAMS,
                 feat_sizes: Sequence[int] = stage_sides(),
                 num_classes: int = 1000,
                 names: Sequence[str] | None = None,
                 norm_cfg: dict | None = dict(type='BN', affine=False),
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 init_cfg: dict | list | None = dict(type='Normal', layer='Linear', std=0.01, bias=0.)) -> None:
        super().__init__(init_cfg=init_cfg)
        if not len(in_channels) == len(pool_params) == len(feat_sizes):
            raise ConfigError(f'MultiStageLinearHead: {len(in_channels)} in_channels, {len(pool_params)} pool_params '
                             f'and {len(feat_sizes)} feat_sizes: give one per stage')
        self.names = list(names) if names is not None else [f'feature{i + 1}' for i in range(len(in_channels))]
        if len(self.names) != len(in_channels):
            raise ConfigError(f'MultiStageLinearHead: {len(self.names)} names for {len(in_channels)} heads')
        self.pools = nn.ModuleList(nn.AvgPool2d(**p) for p in pool_params)
        self.pooled_sizes = [pooled_side(s, **p) for s, p in zip(feat_sizes, pool_params)]
        self.norms = nn.ModuleList(
            _build_norm(norm_cfg, c) if norm_cfg is not None else nn.Identity() for c in in_channels)
        self.fcs = nn.ModuleList(nn.Linear(c * s * s, num_classes) for c, s in zip(in_channels, self.pooled_sizes))
        self.loss_module = MODELS.build(loss)

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        if len(feats) != len(self.fcs):
            raise ConfigError(f'MultiStageLinearHead: got {len(feats)} feature maps for {len(self.fcs)} heads '
                             '(match the backbone out_indices)')
        scores = []
        for name, x, pool, norm, fc in zip(self.names, feats, self.pools, self.norms, self.fcs):
            check_pool_input(x, pool, name)
            x = norm(pool(x))  # NxCxsxs
            if x.shape[1] * x.shape[2] * x.shape[3] != fc.in_features:
                raise ValueError(f'MultiStageLinearHead: {name} pools to {tuple(x.shape[1:])} but its fc takes '
                                 f'{fc.in_features} inputs: feat_sizes must match the input resolution')
            scores.append(fc(x.flatten(1)))  # N x num_classes
        return scores

    def loss(self, feats: Sequence[Tensor], data_samples: list[DataSample]) -> dict[str, Tensor]:
        target = torch.cat([s.gt_label for s in data_samples])
        losses = {}
        for name, score in zip(self.names, self(feats)):
            losses[f'loss_{name}'] = self.loss_module(score, target)
            losses[f'acc_{name}'] = (score.argmax(1) == target).float().mean() * 100  # logged, not optimised
        return losses

    def predict(self, feats: Sequence[Tensor], data_samples: list[DataSample | None] | None = None) -> list[DataSample]:
        scores = [F.softmax(s, dim=1) for s in self(feats)]
        data_samples = data_samples or [None] * scores[0].shape[0]
        out = []
        for i, sample in enumerate(data_samples):
            sample = sample if sample is not None else DataSample()
            per_head = torch.stack([s[i] for s in scores])  # heads x num_classes
            sample.set_pred_score(per_head[-1])  # the last stage is the usual single-head answer
            sample.set_field(per_head, 'multi_pred_score')
            sample.set_field(list(self.names), 'multi_head_names', field_type='metainfo')
            out.append(sample)
        return out


def _build_norm(cfg: dict, channels: int) -> nn.Module:
    from mmcv.cnn import build_norm_layer
    return build_norm_layer(cfg, channels)[1]
