"""The MoCo v2 colour augmentation on the device, as a batch: colour jitter (random order), grayscale, Gaussian blur.

With this data preprocessor the CPU pipeline only decodes, crops and flips (``FastRandomResizedCrop`` and
``FastRandomFlip``, the cheap part); each view's colour operations then run on the accelerator for the whole batch,
with per-sample random parameters drawn from mmpretrain's distributions: jitter with probability 0.8, factors
uniform in [1 - 0.4, 1 + 0.4] (hue [-0.1, 0.1] of a turn) applied in a random order per sample; grayscale with
probability 0.2 (BT.601 weights); blur with probability 0.5, sigma uniform in [0.1, 2]. Plain torch (batched
blends, torchvision's batched HSV conversion, a grouped separable convolution), float32 in [0, 1]: no 8-bit
rounding, unlike the CPU pipelines. ``tests/test_pipeline_distribution.py`` compares it with mmpretrain's pipeline.

Every random number here comes from the preprocessor's own ``generator`` (a CPU ``torch.Generator``, seeded from the
run's seed and the process's rank when the model is built), never from torch's global generator: the checkpoint
hook saves its state in every checkpoint and restores it on resume
(:class:`~simsiam_mm.engine.ResumableCheckpointHook`), so a killed and resumed run draws the same views as an
uninterrupted one. The draws are made on the CPU (a few numbers per image) and moved to the device.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import get_rank
from torch import Tensor
from torchvision.ops import roi_align
from torchvision.transforms.v2.functional._color import _hsv_to_rgb, _rgb_to_hsv

from simsiam_mm.models.data_preprocessor import SimSiamDataPreprocessor
from simsiam_mm.registry import MODELS

GRAY_RGB = (0.299, 0.587, 0.114)


def _gray(rgb: Tensor) -> Tensor:
    """Nx1xHxW BT.601 luma of an Nx3xHxW RGB batch."""
    r, g, b = rgb.unbind(1)
    return (GRAY_RGB[0] * r + GRAY_RGB[1] * g + GRAY_RGB[2] * b)[:, None]


def brightness(rgb: Tensor, f: Tensor) -> Tensor:
    return (rgb * f).clamp(0, 1)


def contrast(rgb: Tensor, f: Tensor) -> Tensor:
    mean = _gray(rgb).mean(dim=(1, 2, 3), keepdim=True)
    return (mean + f * (rgb - mean)).clamp(0, 1)


def saturation(rgb: Tensor, f: Tensor) -> Tensor:
    gray = _gray(rgb)
    return (gray + f * (rgb - gray)).clamp(0, 1)


def hue(rgb: Tensor, f: Tensor) -> Tensor:
    h, s, v = _rgb_to_hsv(rgb).unbind(1)
    return _hsv_to_rgb(torch.stack([(h + f[:, 0]) % 1.0, s, v], dim=1))


JITTER_OPS = (brightness, contrast, saturation, hue)


def gaussian_blur(rgb: Tensor, sigma: Tensor, max_sigma: float) -> Tensor:
    """Each image blurred with its own sigma: a separable Gaussian over +-3 max_sigma, edges replicated."""
    n, c, h, w = rgb.shape
    radius = math.ceil(3 * max_sigma)
    t = torch.arange(-radius, radius + 1, device=rgb.device, dtype=rgb.dtype)
    kernel = torch.exp(-t[None] ** 2 / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (n*c) x K
    x = F.pad(rgb, (radius,) * 4, mode='replicate').reshape(1, n * c, h + 2 * radius, w + 2 * radius)
    x = F.conv2d(x, kernel[:, None, None, :], groups=n * c)
    x = F.conv2d(x, kernel[:, None, :, None], groups=n * c)
    return x.reshape(n, c, h, w)


def generator_seed(seed: int | None = None) -> int:
    """A 63-bit seed for a component's own generator: a mix of ``seed`` (default: ``torch.initial_seed()``, which
    mmengine's ``Runner`` sets to the run's seed before it builds the model) and this process's rank, so that the
    processes of a distributed run draw independent numbers even when mmengine seeds them alike."""
    seed = torch.initial_seed() if seed is None else seed
    return int(np.random.SeedSequence([seed % 2**64, get_rank()]).generate_state(1, np.uint64)[0]) >> 1


def _rand(n: int, generator: torch.Generator | None, device: torch.device | str) -> Tensor:
    """``n`` numbers uniform in [0, 1) from ``generator`` (a CPU one; None: torch's global one), on ``device``."""
    return torch.rand(n, generator=generator).to(device)


def random_resized_crop_boxes(n: int, height: int, width: int, scale: tuple[float, float],
                              ratio: tuple[float, float], device: torch.device | str = 'cpu',
                              attempts: int = 10, generator: torch.Generator | None = None) -> Tensor:
    """Nx4 crop boxes (x1, y1, x2, y2, pixel edges) drawn as mmpretrain's ``RandomResizedCrop`` draws them.

    Per sample: up to ``attempts`` tries of an area fraction uniform in ``scale`` and a log-uniform aspect ratio in
    ``ratio``; the first try whose rounded size fits is placed uniformly at random; a sample with no fitting try gets
    the central crop with the ratio clamped to ``ratio`` (mmpretrain's fallback). The numbers come from
    ``generator`` (a CPU generator; None: torch's global one) and the boxes are returned on ``device``.
    """
    area = torch.empty(n, attempts).uniform_(*scale, generator=generator).to(device) * height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    aspect = torch.exp(torch.empty(n, attempts).uniform_(*log_ratio, generator=generator).to(device))
    w, h = torch.sqrt(area * aspect).round(), torch.sqrt(area / aspect).round()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.float().argmax(dim=1)  # index of the first fitting try (0 when none fits)
    w, h = w.gather(1, first[:, None])[:, 0], h.gather(1, first[:, None])[:, 0]
    x1 = torch.floor(_rand(n, generator, device) * (width - w + 1))
    y1 = torch.floor(_rand(n, generator, device) * (height - h + 1))
    none_fits = ~fits.any(dim=1)
    if none_fits.any():  # the central crop, ratio clamped
        in_ratio = width / height
        if in_ratio < ratio[0]:
            cw, ch = width, round(width / ratio[0])
        elif in_ratio > ratio[1]:
            cw, ch = round(height * ratio[1]), height
        else:
            cw, ch = width, height
        w, h = torch.where(none_fits, float(cw), w), torch.where(none_fits, float(ch), h)
        x1 = torch.where(none_fits, float((width - cw) // 2), x1)
        y1 = torch.where(none_fits, float((height - ch) // 2), y1)
    return torch.stack([x1, y1, x1 + w, y1 + h], dim=1)


def resized_crops(images: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Nx3xSxS float crops of the Nx3xHxW ``images`` at ``boxes`` (pixel edges), each resized to ``size``.

    ``roi_align`` with an adaptive sampling grid: each output pixel averages bilinear samples spread over its area,
    so a downscale is filtered (like an antialiased resize), not just subsampled.
    """
    rois = torch.cat([torch.arange(len(boxes), device=boxes.device, dtype=boxes.dtype)[:, None], boxes], dim=1)
    return roi_align(images, rois, output_size=size, spatial_scale=1.0, sampling_ratio=0, aligned=True)


@MODELS.register_module()
class BatchAugDataPreprocessor(SimSiamDataPreprocessor):
    """:class:`SimSiamDataPreprocessor` that first applies the MoCo v2 colour augmentation to every training view on
    the device (see the module's docstring); evaluation inputs pass unchanged.

    With ``crop_size`` set it also makes the views: the loader then hands over one Nx3xHxW batch of whole images
    (e.g. from :class:`~simsiam_mm.datasets.CachedDataset`) and each of ``num_views`` views is a random resized crop
    (:func:`random_resized_crop_boxes`, resized by :func:`resized_crops`) with a random horizontal flip, before the
    colour operations.

    Args:
        jitter_prob, brightness, contrast, saturation, hue: ``RandomApply(ColorJitter(...), prob=jitter_prob)``.
        gray_prob: ``RandomGrayscale(prob=gray_prob)``.
        blur_prob, blur_sigma: ``GaussianBlur(prob=blur_prob)`` with sigma uniform in ``blur_sigma``.
        crop_size: output side of the random resized crops made here (None: the loader's views are used as given).
        crop_scale, crop_ratio, flip_prob, num_views: ``RandomResizedCrop(crop_size, crop_ratio_range=crop_scale,
            aspect_ratio_range=crop_ratio)``, ``RandomFlip(prob=flip_prob)``, ``MultiView(num_views)``.
        **kwargs: the arguments of :class:`SimSiamDataPreprocessor`.
    """

    def __init__(self, *args, jitter_prob: float = 0.8, brightness: float = 0.4, contrast: float = 0.4,
                 saturation: float = 0.4, hue: float = 0.1, gray_prob: float = 0.2, blur_prob: float = 0.5,
                 blur_sigma: tuple[float, float] = (0.1, 2.0), crop_size: int | None = None,
                 crop_scale: tuple[float, float] = (0.2, 1.0), crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
                 flip_prob: float = 0.5, num_views: int = 2, seed: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.generator = torch.Generator().manual_seed(generator_seed(seed))
        self.crop_size, self.crop_scale, self.crop_ratio = crop_size, tuple(crop_scale), tuple(crop_ratio)
        self.flip_prob, self.num_views = flip_prob, num_views
        self.jitter_prob, self.gray_prob, self.blur_prob = jitter_prob, gray_prob, blur_prob
        bounds = [(1 - brightness, 1 + brightness), (1 - contrast, 1 + contrast), (1 - saturation, 1 + saturation),
                  (-hue, hue)]
        self.jitter = list(zip(JITTER_OPS, bounds))  # mmpretrain's ColorJitter order of indices
        self.jitter_strength = dict(brightness=brightness, contrast=contrast, saturation=saturation, hue=hue)
        self.blur_sigma = tuple(blur_sigma)

    def per_sample_views(self, size: int | None = None) -> list[dict]:
        """The same augmentation as one view's per-sample mmpretrain transforms (for ``MultiView``), written as the
        reference configs write it (``configs/_base_/datasets/*_simsiam.py``): what this preprocessor does batched on
        the device, done image by image in a loader worker. ``size``: the crop side (default ``crop_size``)."""
        view = [dict(type='RandomResizedCrop', scale=size or self.crop_size, crop_ratio_range=self.crop_scale,
                     aspect_ratio_range=self.crop_ratio, backend='pillow'),
                dict(type='RandomApply', prob=self.jitter_prob,
                     transforms=[dict(type='ColorJitter', **self.jitter_strength)]),
                dict(type='RandomGrayscale', prob=self.gray_prob, keep_channels=True,
                     channel_weights=(0.114, 0.587, 0.2989))]
        if self.blur_prob > 0:
            view.append(dict(type='GaussianBlur', magnitude_range=self.blur_sigma, magnitude_std='inf',
                             prob=self.blur_prob))
        return view + [dict(type='RandomFlip', prob=self.flip_prob)]

    def forward(self, data: dict, training: bool = False) -> dict:
        if training:
            data = dict(data)
            views = data['inputs']
            if self.crop_size is not None:
                images = views.to(self.device).float()  # NxCxHxW whole images
                views = [self.crop_flip(images) for _ in range(self.num_views)]
            data['inputs'] = ([self.augment(v.to(self.device)) for v in views] if isinstance(views, list)
                              else self.augment(views.to(self.device)))
        return super().forward(data, training)

    def crop_flip(self, images: Tensor) -> Tensor:
        """NxCxHxW images -> NxCxSxS float views: a random resized crop each, then a random horizontal flip."""
        n, _, height, width = images.shape
        boxes = random_resized_crop_boxes(n, height, width, self.crop_scale, self.crop_ratio, images.device,
                                          generator=self.generator)
        views = resized_crops(images, boxes, self.crop_size)
        return self._where(self._rand(n, images) < self.flip_prob, views.flip(3), views)

    def augment(self, views: Tensor) -> Tensor:
        """Nx3xHxW views in the loader's BGR order (uint8 or float in [0, 255]) -> augmented, float, same order."""
        rgb = views.float().flip(1) / 255
        rgb = self._color_jitter(rgb)
        rgb = self._where(self._rand(len(rgb), rgb) < self.gray_prob, _gray(rgb).expand_as(rgb), rgb)
        blur = self._rand(len(rgb), rgb) < self.blur_prob
        if blur.any():
            sigma = self._uniform(len(rgb), self.blur_sigma, rgb)
            rgb = self._where(blur, gaussian_blur(rgb, sigma, self.blur_sigma[1]), rgb)
        return (rgb * 255).flip(1)

    def _color_jitter(self, rgb: Tensor) -> Tensor:
        n = len(rgb)
        apply = self._rand(n, rgb) < self.jitter_prob
        factors = [self._uniform(n, bounds, rgb)[:, None, None, None] for _, bounds in self.jitter]
        order = torch.rand(n, len(self.jitter), generator=self.generator).to(rgb.device).argsort(dim=1)  # per sample
        for slot in range(len(self.jitter)):
            for index, (op, bounds) in enumerate(self.jitter):
                mask = apply & (order[:, slot] == index)
                if bounds[0] != bounds[1] and mask.any():
                    rgb = self._where(mask, op(rgb, factors[index]), rgb)
        return rgb

    def _rand(self, n: int, like: Tensor) -> Tensor:
        return _rand(n, self.generator, like.device)

    def _uniform(self, n: int, bounds: tuple[float, float], like: Tensor) -> Tensor:
        return torch.empty(n).uniform_(*bounds, generator=self.generator).to(like.device, like.dtype)

    @staticmethod
    def _where(mask: Tensor, changed: Tensor, unchanged: Tensor) -> Tensor:
        return torch.where(mask[:, None, None, None], changed, unchanged)
