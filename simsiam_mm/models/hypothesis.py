"""The proof-of-concept experiments of the paper's hypothesis (Sec. 5.2): SimSiam as an alternating optimisation.

Sec. 5.1 writes SimSiam as min over θ and η of E[||F_θ(T(x)) − η_x||²]: a step on θ with η fixed (a constant:
stop-gradient) alternating with η_x ← E_T[F_θ(T(x))], approximated by one augmentation, η_x ← F_θ(T′(x)).
Two models here test it (paper values: ImageNet linear top-1, 100 epochs):

- :class:`AlternatingSimSiam` (Sec. 5.2 "multi-step alternation": 1-step 68.1, 10-step 68.7, 100-step 68.9,
  1-epoch 67.0): the targets η for the next k SGD steps are computed by one no-grad pass of the current network
  and cached; k steps then train the predictor branch against them. :class:`~simsiam_mm.engine.AlternationLoop`
  draws the k batches ahead, preprocesses each once and asks the model for the targets; with k = 1 a step is
  SimSiam's step exactly (``tests/test_hypothesis.py``).
- :class:`MovingAverageSimSiam` (Sec. 5.2 "expectation over augmentations": 55.0 without the predictor, m = 0.8;
  0.1 without the predictor and without the moving average): a memory of every training image holds
  η_x ← m·η_x + (1 − m)·F(T′(x)), and F(T(x)) is trained toward η_x.

Paper values as filed in issue 24 from the paper's text; the search tool of this session returned only excerpts of
Sec. 5, not these numbers.
"""
import math

import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from simsiam_mm.errors import ConfigError
from simsiam_mm.models.simsiam import SimSiam, collapse_std
from simsiam_mm.registry import MODELS


def _out_dim(neck: nn.Module) -> int:
    """d: the output width of the projector (its last fc)."""
    return [m for m in neck.modules() if isinstance(m, nn.Linear)][-1].out_features


class _KeepNormStats:
    """Context: BatchNorm running statistics (and counters) are restored on exit, so a no-grad pass in train mode
    (batch statistics, as the training step) leaves the model's state exactly as it was."""

    def __init__(self, model: nn.Module) -> None:
        self.norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]

    def __enter__(self) -> None:
        self.saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in self.norms]

    def __exit__(self, *exc) -> None:
        for m, state in zip(self.norms, self.saved):
            m.load_state_dict(state)


def _check_pairs(inputs: list[Tensor]) -> None:
    if len(inputs) != 2:
        raise ConfigError(f'got {len(inputs)} views per image: the Sec. 5.2 variants take 2 (the pipeline\'s '
                          'MultiView num_views=2)')


@MODELS.register_module()
class AlternatingSimSiam(SimSiam):
    """SimSiam trained against cached targets η, refreshed every k steps (paper Sec. 5.2, multi-step alternation).

    Paper, Sec. 5.2: "In this variant, we treat t in (7) and (8) as the index of an outer loop; and the sub-problem
    in (7) is updated by an inner loop of k SGD steps. In each alternation, we pre-compute the η_x required for all
    k SGD steps using a single forward pass, and cache them in memory." (quoted as filed in issue 24.)

    The loss is SimSiam's, ½·D(p1, η(x2)) + ½·D(p2, η(x1)), with η(x_v) = F_θt(x_v) of the network θt at the start
    of the alternation instead of z_v.detach() of the current one. The views and their targets come together from
    :class:`~simsiam_mm.engine.AlternationLoop` (``train_cfg=dict(type='AlternationLoop', steps=k)``): a batch
    without targets is refused, never silently trained as plain SimSiam.

    Memory: the loop keeps k preprocessed batches (k × 2 views × N × 3·H·W floats: 157 MB for k = 100 at batch 64,
    32 px; 31 GB at batch 256, 224 px, hence "1-epoch" at ImageNet scale needs a per-image memory instead) and
    their targets (k × 2 × N × d floats). Compute: one extra no-grad forward pass per step.
    """

    @torch.no_grad()
    def compute_targets(self, inputs: list[Tensor]) -> Tensor:
        """η = F_θ(x_v) for each view: 2xNxd, in train mode (batch statistics, as the step that will use them) and
        with the BN running statistics restored afterwards."""
        _check_pairs(inputs)
        with _KeepNormStats(self):
            return torch.stack([self.neck(self.backbone(x)).float() for x in inputs])  # 2xNxd

    def loss(self, inputs: list[Tensor], data_samples: list[DataSample] | None,
             targets: Tensor | None = None) -> dict[str, Tensor]:
        if targets is None:
            raise ConfigError('AlternatingSimSiam got a batch without cached targets: train it with '
                              "train_cfg=dict(type='AlternationLoop', steps=k) (k = 1: SimSiam)")
        _check_pairs(inputs)
        z1, z2 = (self.neck(self.backbone(x)) for x in inputs)  # NxC projections of the current network
        loss = self.head.loss(z1, z2, targets=(targets[1], targets[0]))['loss']  # p1 -> η(x2), p2 -> η(x1)
        z_std = collapse_std(z1)
        return dict(loss=loss, z_std=z_std, z_std_x_sqrt_d=z_std * math.sqrt(z1.size(1)))

    def train_step(self, data: dict, optim_wrapper: OptimWrapper) -> dict[str, Tensor]:
        """:meth:`BaseModel.train_step` for a batch the loop has already preprocessed (``data['targets']`` set):
        the views are the ones the targets were computed from, so a random data preprocessor cannot redraw them."""
        if 'targets' not in data:
            return super().train_step(data, optim_wrapper)  # -> loss() refuses it, naming the fix
        with optim_wrapper.optim_context(self):
            losses = self.loss(data['inputs'], data['data_samples'], targets=data['targets'])
        parsed, log_vars = self.parse_losses(losses)
        optim_wrapper.update_params(parsed)
        return log_vars


@MODELS.register_module()
class MovingAverageSimSiam(SimSiam):
    """F(T(x)) trained toward a per-image moving average η_x of F(T′(x)) (paper Sec. 5.2, expectation over
    augmentations); the default has no predictor (``head.predictor=None``), as in the paper's 55.0 row.

    Paper, Sec. 5.2: "we update η_x by a moving-average: η_x^t ← m·η_x^(t−1) + (1 − m)·F_θt(T′(x)) [...] m = 0.8"
    (as filed in issue 24). Each view is T′ for the other: for a batch of images x with views x1, x2 and
    z_v = F(x_v), the memory takes two updates in order, η_x ← m·η_x + (1 − m)·z̄2, then η_x ← m·η_x + (1 − m)·z̄1
    (z̄ = z/||z||: D is a cosine, so only directions count and each view weighs the same), and the loss is
    ½·D(h(z1), η after the first update) + ½·D(h(z2), η after the second). An image seen for the first time starts
    from η_x = z̄2. η is a buffer: constant for the gradient (no stop-gradient needed) and saved in checkpoints.

    Memory: ``memory_size`` × d float32 (+ one flag each): CIFAR-10's 50,000 images at d = 2048: 410 MB; ImageNet's
    1.28 M at d = 2048: 10.5 GB. The index of an image is its ``sample_idx`` (mmengine's ``BaseDataset``, carried by
    ``PackInputs``), so it must be < ``memory_size``.

    Args:
        memory_size: number of training images (the largest ``sample_idx`` + 1).
        momentum: m (paper: 0.8).
    """

    def __init__(self, *args, memory_size: int, momentum: float = 0.8, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not 0 <= momentum < 1:
            raise ConfigError(f'model.momentum={momentum}: the moving average needs 0 <= m < 1 (paper: 0.8)')
        self.momentum = momentum
        d = _out_dim(self.neck)
        self.register_buffer('memory', torch.zeros(memory_size, d))  # η_x, one row per training image
        self.register_buffer('seen', torch.zeros(memory_size, dtype=torch.bool))

    @torch.no_grad()
    def update(self, index: Tensor, z: Tensor) -> Tensor:
        """η_x ← m·η_x + (1 − m)·z̄ for the images ``index`` (η_x = z̄ on a first visit); returns the new η."""
        z = F.normalize(z.detach().float(), dim=1)
        old = torch.where(self.seen[index, None], self.memory[index], z)
        eta = self.momentum * old + (1 - self.momentum) * z
        self.memory[index], self.seen[index] = eta, True
        return eta

    def sample_index(self, data_samples: list[DataSample] | None) -> Tensor:
        if not data_samples or 'sample_idx' not in data_samples[0]:
            raise ConfigError('MovingAverageSimSiam needs each image\'s sample_idx: end the train pipeline with '
                              "PackInputs (it keeps 'sample_idx') and collate with default_collate")
        index = torch.tensor([int(ds.sample_idx) for ds in data_samples], device=self.memory.device)
        if int(index.max()) >= len(self.memory):
            raise ConfigError(f'sample_idx {int(index.max())} >= model.memory_size={len(self.memory)}: set '
                              'model.memory_size to the number of training images')
        return index

    def loss(self, inputs: list[Tensor], data_samples: list[DataSample] | None) -> dict[str, Tensor]:
        _check_pairs(inputs)
        index = self.sample_index(data_samples)
        z1, z2 = (self.neck(self.backbone(x)) for x in inputs)  # NxC
        eta_for_1 = self.update(index, z2)  # T' = view 2
        eta_for_2 = self.update(index, z1)  # T' = view 1
        loss = self.head.loss(z1, z2, targets=(eta_for_1, eta_for_2))['loss']
        z_std = collapse_std(z1)
        return dict(loss=loss, z_std=z_std, z_std_x_sqrt_d=z_std * math.sqrt(z1.size(1)))
