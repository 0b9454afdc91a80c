"""Synchronized BatchNorm that also runs on CPU processes (gloo), so CPU DDP trains like one big batch.

PyTorch's ``nn.SyncBatchNorm`` refuses CPU tensors. SimSiam's recipe normalises over the whole global batch (paper
Sec. 4: "SyncBN"); without synchronisation each process normalises over its own share, which changes the loss (for
2 processes the difference is easily 1e-2 after a few steps). This layer all-reduces the per-channel sums with the
differentiable ``torch.distributed.nn.functional.all_reduce``, so forward *and* backward equal BatchNorm over the
concatenated batch; in a single process it is plain BatchNorm.
"""
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.nn.functional import all_reduce
from torch.nn.modules.batchnorm import _BatchNorm

from simsiam_mm.registry import MODELS


def _world_size(group) -> int:
    return dist.get_world_size(group) if dist.is_available() and dist.is_initialized() else 1


@MODELS.register_module('CPUSyncBN')
class CPUSyncBatchNorm(_BatchNorm):
    """BatchNorm over the batch of every process in ``process_group``, for inputs NxC or NxCx... (1d/2d/3d).

    Two-pass statistics: the global mean, then the global mean of squared deviations (biased, as BatchNorm
    normalises; the running variance is unbiased, as in BatchNorm).

    Examples:
        >>> bn = CPUSyncBatchNorm(8)  # config: norm_cfg=dict(type='CPUSyncBN')
        >>> bn(torch.randn(4, 8, 5, 5)).shape
        torch.Size([4, 8, 5, 5])
    """

    _abbr_ = 'bn'  # mmcv's build_norm_layer names the layer bn1, bn2, ... as for BN

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f'CPUSyncBatchNorm expects NxC or NxCx... input, got shape {tuple(x.shape)}')

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
        if not self.training or _world_size(self.process_group) == 1:
            return super().forward(x)  # plain BatchNorm (F.batch_norm handles any N x C x ... input)
        dims = [0] + list(range(2, x.dim()))  # every axis but the channel
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() / x.size(1)], dtype=x.dtype)
        dist.all_reduce(count, group=self.process_group)  # samples per channel over all processes
        mean = all_reduce(x.sum(dims), group=self.process_group) / count  # C, differentiable across processes
        centred = x - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims), group=self.process_group) / count  # C, biased
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum)
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                unbiased = var.detach() * count / (count - 1).clamp(min=1)
                self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)
        return out


def convert_to_cpu_sync_bn(module: nn.Module, process_group=None, only_syncbn: bool = False) -> nn.Module:
    """Replace every BatchNorm (with ``only_syncbn``: every ``nn.SyncBatchNorm``, e.g. in a model built from a GPU
    config) in ``module`` with :class:`CPUSyncBatchNorm`, keeping parameters and running statistics."""
    target = nn.SyncBatchNorm if only_syncbn else _BatchNorm
    if isinstance(module, target) and not isinstance(module, CPUSyncBatchNorm):
        new = CPUSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats, process_group)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, convert_to_cpu_sync_bn(child, process_group, only_syncbn))
    return module


__all__ = ['CPUSyncBatchNorm', 'convert_to_cpu_sync_bn']
