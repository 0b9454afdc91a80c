"""AlexNet-style PCA lighting noise added in floating point, as the reference per-stage linear protocol does.

mmselfsup 0.x (``mmselfsup/datasets/pipelines/transforms.py``, ``Lighting``, which its per-stage ImageNet config
``resnet50_mhead_linear-8xb32-steplr-90e_in1k.py`` runs between ``ToTensor`` and ``Normalize``) draws
``alpha ~ N(0, alphastd)`` per image and adds, to every pixel of the float RGB tensor in [0, 1], the offset
``eigvec @ (alpha * eigval)`` of the ImageNet colour PCA (Krizhevsky et al. 2012, Sec. 4.1), with no clipping and no
rounding. mmpretrain's ``Lighting`` adds the same offset to the uint8 image and casts the result back to uint8, so
values are truncated and pixels near 0 or 255 wrap around to the other end (a small negative offset turns black
[0, 0, 0] into e.g. [251, 251, 251]).

:class:`FloatLighting` is the reference's transform on this pipeline's image: an HxWx3 array in 0..255 (mmcv's
``LoadImageFromFile`` gives BGR uint8; the data preprocessor later converts to RGB and normalises with the mean/std
in the same 0..255 units). It returns a float32 array, so the offset (scaled by 255) reaches the normalisation
exactly as in the reference, where ``ToTensor`` divides by 255 first: ``(x / 255 + o - m) / s == (x + 255 o - 255 m)
/ (255 s)``.
"""
from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from simsiam_mm.errors import ConfigError, DataError
from simsiam_mm.registry import TRANSFORMS

# mmselfsup 0.x Lighting._IMAGENET_PCA: eigenvalues (pixels in [0, 1]) and eigenvectors, one row per colour R, G, B
IMAGENET_PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_PCA_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                       (-0.5808, -0.0045, -0.8140),
                       (-0.5836, -0.6948, 0.4203))


@TRANSFORMS.register_module()
class FloatLighting(BaseTransform):
    """Add the PCA lighting offset to a float copy of ``results['img']`` (HxWx3, 0..255), without clipping.

    Args:
        alphastd: standard deviation of the per-image weights ``alpha`` (0.1 in the reference; 0 disables).
        eigval: the colour PCA eigenvalues, for pixels in [0, 1] (the reference's ImageNet values by default).
        eigvec: the eigenvectors, one row per colour in R, G, B order (the reference's ImageNet values by default).
        channel_order: ``'bgr'`` (mmcv's ``LoadImageFromFile``, the default) or ``'rgb'``: the order of the image's
            channels; the RGB offset is applied to the matching channel.
        scale: the pixel value of 1.0 in the reference's [0, 1] tensor (255 for images in 0..255).

    The weights are drawn with torch's global generator, as the reference's ``img.new().resize_(3).normal_(0,
    alphastd)``, so :class:`~simsiam_mm.datasets.SeedSampleRNG` makes them a function of the sample.

    Examples:
        >>> black = np.zeros((2, 2, 3), np.uint8)
        >>> _ = torch.manual_seed(0)
        >>> out = FloatLighting().transform(dict(img=black))['img']
        >>> out.dtype, bool(np.abs(out).max() < 20)  # a small offset around 0, not a wrap to ~250
        (dtype('float32'), True)
    """

    def __init__(self, alphastd: float = 0.1, eigval: Sequence[float] = IMAGENET_PCA_EIGVAL,
                 eigvec: Sequence[Sequence[float]] = IMAGENET_PCA_EIGVEC, channel_order: str = 'bgr',
                 scale: float = 255.) -> None:
        if channel_order not in ('bgr', 'rgb'):
            raise ConfigError(f"FloatLighting: channel_order={channel_order!r}: use 'bgr' (mmcv's LoadImageFromFile) "
                              "or 'rgb'")
        self.eigval = torch.tensor(eigval, dtype=torch.float32)
        self.eigvec = torch.tensor(eigvec, dtype=torch.float32)
        if self.eigval.shape != (3, ) or self.eigvec.shape != (3, 3):
            raise ConfigError(f'FloatLighting: eigval must have 3 values and eigvec 3 rows of 3, got shapes '
                              f'{tuple(self.eigval.shape)} and {tuple(self.eigvec.shape)}')
        if alphastd < 0:
            raise ConfigError(f'FloatLighting: alphastd={alphastd} must be >= 0')
        self.alphastd = float(alphastd)
        self.channel_order = channel_order
        self.scale = float(scale)

    def rgb_offset(self) -> torch.Tensor:
        """Draw ``alpha`` and return the reference's per-colour offset ``(eigvec * alpha * eigval).sum(1)`` (R, G, B;
        in [0, 1] units), computed as the reference does it."""
        alpha = torch.empty(3).normal_(0, self.alphastd)
        return self.eigvec.clone().mul(alpha.view(1, 3).expand(3, 3)).mul(
            self.eigval.view(1, 3).expand(3, 3)).sum(1).squeeze()

    def transform(self, results: dict) -> dict:
        img = np.asarray(results['img'], dtype=np.float32)
        if self.alphastd == 0:
            results['img'] = img
            return results
        if img.ndim != 3 or img.shape[2] != 3:
            raise DataError(f'FloatLighting: needs an HxWx3 colour image, got shape {img.shape} '
                              f"({results.get('img_path', 'image')})")
        offset = self.rgb_offset().numpy() * self.scale
        if self.channel_order == 'bgr':
            offset = offset[::-1]
        results['img'] = img + offset.astype(np.float32)  # a new array: no clipping, no cast back
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(alphastd={self.alphastd}, eigval={self.eigval.tolist()}, '
                f'eigvec={self.eigvec.tolist()}, channel_order={self.channel_order!r}, scale={self.scale})')
