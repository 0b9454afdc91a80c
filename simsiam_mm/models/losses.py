"""The SimSiam similarity D and the collapse diagnostic, each a small function of embeddings."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from simsiam_mm.registry import MODELS


@MODELS.register_module()
class NegativeCosineSimilarity(nn.Module):
    """Negative cosine similarity D(p, z), averaged over the batch.

    Paper, Sec. 3: "we minimize their negative cosine similarity:
    D(p1, z2) = - p1/||p1||_2 · z2/||z2||_2". Its value lies in [-1, 1]; -1 means the two vectors point the same way.

    Examples:
        >>> criterion = NegativeCosineSimilarity()
        >>> p, z = torch.randn(8, 16), torch.randn(8, 16)
        >>> loss = criterion(p, z.detach())  # stop-gradient is the caller's choice, see SimSiamHead
        >>> bool(-1 <= loss <= 1)
        True
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, p: Tensor, z: Tensor) -> Tensor:
        p, z = p.float(), z.float()  # float32 even under bf16/fp16 autocast (no-op otherwise)
        return -F.cosine_similarity(p, z, dim=1, eps=self.eps).mean()  # NxC, NxC -> scalar


@torch.no_grad()
def collapse_std(z: Tensor) -> Tensor:
    """Mean over channels of the per-channel std of z/||z|| (paper Sec. 4.1, Fig. 2 middle).

    "If the outputs collapse to a constant vector, their std over all samples should be zero for each channel. [...]
    if z has a zero-mean isotropic Gaussian distribution, [...] the standard deviation of z/||z|| is 1/sqrt(d)."
    So ``collapse_std(z) * sqrt(d)`` is about 1 while training is healthy and falls towards 0 on collapse.

    Examples:
        >>> z = torch.randn(4096, 256)
        >>> round(float(collapse_std(z) * 256 ** 0.5), 1)
        1.0
        >>> float(collapse_std(torch.ones(8, 256)))
        0.0
    """
    return F.normalize(z.float(), dim=1).std(dim=0).mean()  # NxC -> C -> scalar
