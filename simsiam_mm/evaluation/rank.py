"""Label-free health of a representation: its effective rank (RankMe) and a collapse diagnosis one can act on.

RankMe (Garrido, Balestriero, Najman, LeCun, "RankMe: Assessing the downstream performance of pretrained
self-supervised representations by their rank", ICML 2023, Eq. 1) is the exponential of the entropy of the
normalised singular values of the N x K embedding matrix Z::

    RankMe(Z) = exp(-sum_k p_k log p_k),   p_k = sigma_k(Z) / ||sigma(Z)||_1 + eps,   k = 1..min(N, K)

It lies in [1, min(N, K)]: 1 when all rows are one vector (or multiples of it), min(N, K) for a flat spectrum. The
paper: "RankMe should however only be used to compare different runs of a given method, since the embeddings' rank
is not the only factor that affects performance"; it uses 25,600 samples, we use ~1,000 (enough to rank runs of one
recipe, not to compare with the paper's values: with N images the rank can not exceed N).

The diagnosis (:func:`diagnose`) reads RankMe of z together with the collapse score z_std·√d
(:func:`simsiam_mm.models.simsiam.collapse_std`, paper Sec. 4.1, Fig. 2):

- **complete collapse**: every image maps to (nearly) the same z: z_std·√d < ``COMPLETE_STD`` or RankMe(z) <
  ``COMPLETE_RANK``;
- **dimensional collapse**: z still varies (z_std·√d fine) but in few directions: RankMe(z) < ``DIMENSIONAL_FRACTION``
  x d;
- **healthy** otherwise.

Thresholds, from the validation runs (``docs/label_free.md``, per-run numbers in
``results/label_free_validation.csv``: 50-iteration runs of the short recipe, batch 64, on 5,000 CIFAR-10 and
5,000 tinyimagenet10-dev images, buffer of 512 training images, d = 512): every run of a sane recipe ended at
RankMe(z) >= 123 (24 % of d) and z_std·√d >= 0.98; the runs without stop-gradient and with lr x10 at RankMe(z)
28-35 (5.6-6.8 % of d) while z_std·√d still read 0.93-0.99 (it cannot see this). ``DIMENSIONAL_FRACTION`` = 10 %
sits between the groups. The complete-collapse bounds: 0.1 is the collapse monitor's threshold (paper Fig. 2: std
0 when collapsed, 1/√d per channel for isotropic z); RankMe(z) < 2 means one direction is left: 40 steps without
stop-gradient of a width-8 model (tests/test_rank.py) end at RankMe(z) 1.2-2.2 of 64 with z_std·√d 0.06-0.25.
These are short runs on two small natural-image sets; the bounds are a first calibration, not a law.
"""
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

COMPLETE_STD = 0.1  # z_std·√d below this: collapsed to a constant (CollapseMonitorHook's default threshold)
COMPLETE_RANK = 2.0  # RankMe(z) below this: one direction left
DIMENSIONAL_FRACTION = 0.1  # RankMe(z) below this fraction of d (z_std·√d fine): dimensional collapse
RANKME_EPS = 1e-7  # the eps of RankMe's p_k (Garrido et al., Eq. 1)


@torch.no_grad()
def singular_values(feats: Tensor) -> Tensor:
    """Singular values (descending, float64) of the N x K matrix ``feats`` (rows: samples; not centred, as RankMe)."""
    if feats.dim() != 2:
        raise ValueError(f'singular_values: expected an N x K matrix, got shape {tuple(feats.shape)}')
    return torch.linalg.svdvals(feats.detach().double().cpu())


@torch.no_grad()
def effective_rank(feats: Tensor | None = None, eps: float = RANKME_EPS, sigma: Tensor | None = None) -> float:
    """RankMe of the N x K matrix ``feats`` (or of its singular values ``sigma``): exp of the entropy of
    p_k = sigma_k / ||sigma||_1 + eps (Garrido et al., ICML 2023, Eq. 1). 1 for a rank-1 matrix, K for N x K with
    orthogonal equal-norm columns; 1.0 for an all-zero matrix.

    Examples:
        >>> round(effective_rank(torch.eye(64)), 1)  # (the eps in p_k adds 0.02 %)
        64.0
        >>> round(effective_rank(torch.ones(100, 32)), 3)
        1.0
    """
    sigma = singular_values(feats) if sigma is None else sigma.double()
    total = sigma.sum()
    if total <= 0:
        return 1.0
    p = sigma / total + eps
    return math.exp(float(-(p * p.log()).sum()))


@dataclass
class Diagnosis:
    """A label-free verdict on a representation, with what to try. ``state``: healthy / dimensional / complete."""

    state: str
    rank_z: float
    dim_z: int
    z_std_x_sqrt_d: float
    rank_backbone: float | None = None
    dim_backbone: int | None = None

    @property
    def headline(self) -> str:
        return {'healthy': 'healthy', 'dimensional': 'dimensional collapse',
                'complete': 'complete collapse'}[self.state]

    @property
    def advice(self) -> str:
        return ADVICE[self.state]

    def summary(self) -> str:
        backbone = (f', RankMe(backbone) {self.rank_backbone:.1f}/{self.dim_backbone}'
                    if self.rank_backbone is not None else '')
        return (f'{self.headline.upper()}: RankMe(z) {self.rank_z:.1f} of d={self.dim_z} '
                f'({100 * self.rank_z / self.dim_z:.1f} %), z_std*sqrt(d) {self.z_std_x_sqrt_d:.3f}{backbone}. '
                f'{self.advice}')

    def to_dict(self) -> dict:
        return dict(asdict(self), headline=self.headline, advice=self.advice)


ADVICE = {
    'healthy': ('z varies in many directions. Compare runs by RankMe of the backbone (higher is better within one '
                'recipe); train longer before changing the recipe.'),
    'dimensional': ('z varies but in few directions (a run without stop-gradient or with a far too high lr looks '
                    'like this before it collapses completely: check both first). Try: a lower lr (x0.5) or a '
                    'predictor lr that decays with the encoder\'s; stronger augmentation (crop scale (0.08, 1), '
                    'colour jitter 0.4) so the views differ more; a larger batch (BN statistics over more images); '
                    'weight decay 5e-4.'),
    'complete': ('every image maps to the same z. Check that stop-gradient and the predictor are on (paper Sec. 4.1, '
                 'Table 1); then lower the lr (x0.1) and add a warm-up; an lr far too low (x0.01) can look the same '
                 'early on: compare with lr x0.5; with batch < 32 use a larger batch (BN on few images is noisy).'),
}


def diagnose(rank_z: float, dim_z: int, z_std_x_sqrt_d: float, rank_backbone: float | None = None,
             dim_backbone: int | None = None) -> Diagnosis:
    """Healthy / dimensional collapse / complete collapse from RankMe(z) and z_std·√d (thresholds: module docstring).

    Examples:
        >>> diagnose(1.1, 512, 0.01).state
        'complete'
        >>> diagnose(30.0, 512, 0.95).state
        'dimensional'
        >>> diagnose(120.0, 512, 0.9).state
        'healthy'
    """
    if z_std_x_sqrt_d < COMPLETE_STD or rank_z < COMPLETE_RANK:
        state = 'complete'
    elif rank_z < DIMENSIONAL_FRACTION * dim_z:
        state = 'dimensional'
    else:
        state = 'healthy'
    return Diagnosis(state, float(rank_z), int(dim_z), float(z_std_x_sqrt_d), rank_backbone, dim_backbone)


def plot_spectra(spectra: dict[str, list[float]], path: str | Path, title: str = '') -> Path:
    """Normalised singular values sigma_k / sigma_1 (log scale) of each named feature matrix, with its RankMe."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, sigma in spectra.items():
        s = torch.as_tensor(sigma, dtype=torch.float64)
        top = float(s[0]) if len(s) and s[0] > 0 else 1.0
        ax.semilogy(range(1, len(s) + 1), (s / top).clamp_min(1e-12).tolist(),
                    label=f'{name} (RankMe {effective_rank(sigma=s):.1f} of at most {len(s)})')
    ax.set(xlabel='k', ylabel='σ_k / σ_1', title=title or 'singular-value spectrum')
    ax.set_xscale('log')
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
