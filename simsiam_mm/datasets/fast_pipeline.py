"""A faster two-view MoCo v2 pipeline with the same augmentation distribution as mmpretrain's.

Each transform here subclasses the mmpretrain / mmcv transform it replaces and keeps that class's random-parameter code
(``rand_crop_params``, ``_rand_params``, ``_random_prob``, ``random_disable``, ``random_magnitude``, drawing from the
same global generators), so the parameters are drawn from the same distributions, in the same way, and
:class:`~simsiam_mm.datasets.SeedSampleRNG` (the pipeline's first step) still makes them a function of the sample. Only
how the pixels are computed changes:

- :class:`FastLoadImageFromFile` decodes a JPEG with OpenCV (libjpeg-turbo, straight to BGR, no copy); when the
  image is large enough that even the smallest crop RandomResizedCrop can draw still covers the output at 1/2, 1/4
  or 1/8 of the resolution, it asks libjpeg for that scale (``IMREAD_REDUCED_COLOR_*``, as Pillow's ``draft``:
  DCT-domain scaling, most of the decoding work skipped). Other files go through the reference decoder. The decoded
  image is shared by the views (no copy per view).
- :class:`FastRandomResizedCrop` draws the crop on the full-resolution grid and resizes only that box with the
  reference's filter, Pillow's antialiased bilinear, as torch implements it for uint8 (``F.interpolate(...,
  antialias=True)``, an AVX2 port of Pillow-SIMD's; within a few levels of Pillow's) or, when the crop is enlarged
  in both directions (no antialiasing then), OpenCV's bilinear.
- :class:`FastColorJitter`, :class:`FastRandomGrayscale`, :class:`FastGaussianBlur` and :class:`FastRandomFlip`
  work on the small uint8 crop with OpenCV: lookup tables for brightness and contrast, a saturating blend for saturation
  (all truncated like Pillow's blends), an 8-bit HSV round trip for hue (OpenCV's hue mapped onto Pillow's steps by a
  lookup table), a truncated weighted sum for grayscale, a separable Gaussian (sigma = Pillow's ``GaussianBlur``
  radius), a contiguous flip.

The output is the reference's: each view HxWx3 uint8 in BGR order, packed by ``PackInputs``. For the same random
draws, pixel values differ from mmpretrain's by rounding (hue within a few 8-bit steps; the blur's kernel is a true
Gaussian where Pillow's is three box passes); ``tests/test_pipeline_distribution.py`` states and checks the
tolerances.
"""
import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import RandomFlip, RandomGrayscale
from mmpretrain.datasets.transforms import ColorJitter, GaussianBlur, RandomResizedCrop
from PIL import Image

from simsiam_mm.datasets.loading import (
                                         EXIF_ORIENTATION,
                                         SafeLoadImageFromFile,
                                         check_pixels,
                                         decode_rgb,
                                         pixel_limit,
)
from simsiam_mm.errors import ConfigError
from simsiam_mm.registry import TRANSFORMS

DRAFT_REDUCTIONS = (8, 4, 2)  # the DCT scalings libjpeg offers (1/8, 1/4, 1/2), largest first
IMREAD_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                  8: cv2.IMREAD_REDUCED_COLOR_8}


class DecodedImage:
    """A decoded HxWx3 uint8 BGR image (possibly at a reduced scale) and the size of the full-resolution image it
    stands for.

    Crops are drawn on the full-resolution grid (``full_size``) and mapped onto the decoded pixels, so a reduced decode
    does not change the crop distribution. Shared by the views: ``copy.deepcopy`` (what ``MultiView`` does to the
    results of each view) returns the same object, which no transform modifies.
    """

    def __init__(self, bgr: np.ndarray, full_size: tuple[int, int]) -> None:
        self.bgr = bgr
        self.full_size = full_size  # (width, height) of the full-resolution image

    @property
    def scale(self) -> tuple[float, float]:
        """(x, y): decoded pixels per full-resolution pixel."""
        return self.bgr.shape[1] / self.full_size[0], self.bgr.shape[0] / self.full_size[1]

    def __deepcopy__(self, memo: dict) -> 'DecodedImage':
        return self


def min_crop_size(full_size: tuple[int, int], crop_ratio_range: Sequence[float],
                  aspect_ratio_range: Sequence[float]) -> tuple[float, float]:
    """The smallest (width, height) RandomResizedCrop can draw on an image of ``full_size`` (width, height).

    A crop has area ``r * W * H`` with ``r >= crop_ratio_range[0]`` and aspect ``a`` in ``aspect_ratio_range``:
    width ``sqrt(r W H a)``, height ``sqrt(r W H / a)``; its fallback (the whole image, clamped in aspect) is larger.
    One pixel is taken off for the rounding to whole pixels.
    """
    area = crop_ratio_range[0] * full_size[0] * full_size[1]
    width = math.sqrt(area * min(aspect_ratio_range)) - 1
    height = math.sqrt(area / max(aspect_ratio_range)) - 1
    return min(width, full_size[0]), min(height, full_size[1])


def draft_reduction(full_size: tuple[int, int], out_size: tuple[int, int], crop_ratio_range: Sequence[float],
                    aspect_ratio_range: Sequence[float]) -> int:
    """The largest libjpeg reduction (8, 4, 2 or 1) at which every crop still has at least ``out_size`` (width,
    height) decoded pixels, so that it is still downsampled, never upsampled, to the output."""
    min_w, min_h = min_crop_size(full_size, crop_ratio_range, aspect_ratio_range)
    for reduction in DRAFT_REDUCTIONS:
        if min_w / reduction >= out_size[0] and min_h / reduction >= out_size[1]:
            return reduction
    return 1


@TRANSFORMS.register_module()
class FastLoadImageFromFile(SafeLoadImageFromFile):
    """:class:`SafeLoadImageFromFile` (same corrupt-image policy and per-sample seeding) for the fast pipeline: the
    image is decoded once for all views, at the smallest libjpeg scale the crops allow.

    ``results['img']`` is a :class:`DecodedImage`, which :class:`FastRandomResizedCrop` (the next transform of each
    view) turns into an ordinary BGR array; ``img_shape`` and ``ori_shape`` are the full-resolution (height, width).

    Args:
        draft_for: the arguments of the views' ``FastRandomResizedCrop`` (``scale``, ``crop_ratio_range``,
            ``aspect_ratio_range``): a JPEG is decoded at 1/2, 1/4 or 1/8 scale when its smallest possible crop still
            covers ``scale`` there. ``None`` always decodes at full resolution.
        **kwargs: the arguments of :class:`SafeLoadImageFromFile` (``to_float32`` is not supported).

    Examples:
        >>> crop = dict(scale=224, crop_ratio_range=(0.2, 1.))
        >>> load = FastLoadImageFromFile(draft_for=crop)
        >>> results = load(dict(img_path='data/imagenet/train/n01440764/n01440764_10026.JPEG'))  # doctest: +SKIP
        >>> results['img'].full_size, results['img'].bgr.shape  # doctest: +SKIP
        ((2000, 1500), (750, 1000, 3))
    """

    def __init__(self, draft_for: dict | None = None, **kwargs) -> None:
        if kwargs.get('to_float32'):
            raise ConfigError('FastLoadImageFromFile: to_float32=True is not supported (the views stay uint8 until '
                              'the data preprocessor); remove it from the pipeline config.')
        super().__init__(**kwargs)
        self.draft_for = None if draft_for is None else self._crop_geometry(draft_for)

    @staticmethod
    def _crop_geometry(draft_for: dict) -> dict:
        unknown = set(draft_for) - {'type', 'scale', 'crop_ratio_range', 'aspect_ratio_range'}
        if 'scale' not in draft_for or unknown:
            raise ConfigError(f'FastLoadImageFromFile.draft_for={draft_for}: expected the crop arguments scale=..., '
                              f'crop_ratio_range=..., aspect_ratio_range=... (unknown: {sorted(unknown)}).')
        scale = draft_for['scale']
        out_h, out_w = (scale, scale) if isinstance(scale, int) else scale
        return dict(out_size=(out_w, out_h), crop_ratio_range=draft_for.get('crop_ratio_range', (0.08, 1.0)),
                    aspect_ratio_range=draft_for.get('aspect_ratio_range', (3. / 4., 4. / 3.)))

    def _store(self, results: dict, image: 'DecodedImage') -> None:
        results['img'] = image
        results['img_shape'] = results['ori_shape'] = image.full_size[::-1]  # the crop is drawn on the full size

    def _decode(self, img_bytes: bytes, filename: str) -> DecodedImage:
        """Decode a complete colour JPEG with OpenCV (libjpeg-turbo, straight to BGR) at the reduced scale where
        allowed; anything else (other formats, grey or CMYK, EXIF rotation, a truncated or odd file) goes through
        :func:`decode_rgb`, the reference decoder, which also raises the corrupt-image errors."""
        full_size = plain_jpeg_size(img_bytes)
        if full_size is not None:
            check_pixels(full_size, filename, pixel_limit(self.max_image_pixels))
            reduction = 1 if self.draft_for is None else draft_reduction(full_size, **self.draft_for)
            bgr = cv2.imdecode(np.frombuffer(img_bytes, np.uint8), IMREAD_REDUCED[reduction])
            expected = (math.ceil(full_size[1] / reduction), math.ceil(full_size[0] / reduction))
            if bgr is not None and bgr.shape == (*expected, 3):
                return DecodedImage(bgr, full_size)
        bgr = cv2.cvtColor(decode_rgb(img_bytes, filename, self.max_image_pixels), cv2.COLOR_RGB2BGR)
        return DecodedImage(bgr, (bgr.shape[1], bgr.shape[0]))


def plain_jpeg_size(img_bytes: bytes) -> tuple[int, int] | None:
    """(width, height) of a colour (YCbCr) JPEG without EXIF rotation that ends with its end-of-image marker (a cut
    file does not: ``FF D9`` cannot occur in entropy-coded data); ``None`` for anything else."""
    if img_bytes.find(b'\xff\xd9', len(img_bytes) - 32) < 0:
        return None
    try:
        with Image.open(io.BytesIO(img_bytes)) as img:  # reads the header only
            if img.format == 'JPEG' and img.mode == 'RGB' and img.getexif().get(EXIF_ORIENTATION, 1) == 1:
                return img.size
    except Exception:  # noqa: BLE001 - decode_rgb reports it
        return None
    return None


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread (as in a dataloader worker) also where a pipeline runs in the main process:
    one small image gains nothing from more, and on a busy machine their synchronisation costs 10-100x the work."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@TRANSFORMS.register_module()
class FastRandomResizedCrop(RandomResizedCrop):
    """mmpretrain's ``RandomResizedCrop`` (same crop distribution, drawn on the full-resolution grid) that resizes
    only the crop box of a :class:`DecodedImage`, or of an ordinary HxWx3 BGR array. Output: HxWx3 uint8 BGR.

    Bilinear as the reference's ``backend='pillow'``: Pillow's antialiased filter (torch's uint8 port) whenever the
    crop is reduced in some direction, OpenCV's (the same triangle filter, no antialiasing needed) when it is
    enlarged in both. Only ``interpolation='bilinear'`` is supported.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.pop('backend', None)  # always Pillow's filter (see above)
        super().__init__(*args, **kwargs)
        if self.interpolation != 'bilinear':
            raise ConfigError(f'FastRandomResizedCrop: interpolation={self.interpolation!r} is not supported; use '
                              "'bilinear' (the MoCo v2 pipeline's) or mmpretrain's RandomResizedCrop.")

    def transform(self, results: dict) -> dict:
        image = results['img']
        if not isinstance(image, DecodedImage):  # an ordinary BGR array (e.g. from SafeLoadImageFromFile)
            image = DecodedImage(image, image.shape[1::-1])
        full_w, full_h = image.full_size
        top, left, height, width = self.rand_crop_params(np.broadcast_to(np.uint8(0), (full_h, full_w)))
        results['img'] = self._resize_box(image, left, top, width, height)
        results['img_shape'] = results['img'].shape[:2]
        return results

    def _resize_box(self, image: DecodedImage, left: int, top: int, width: int, height: int) -> np.ndarray:
        """The crop box (full-resolution pixels) of ``image`` resized to ``self.scale``: HxWx3 uint8 BGR."""
        sx, sy = image.scale  # a reduced decode: the box to the nearest decoded pixel (under 1/448 of its side)
        x0, y0 = round(left * sx), round(top * sy)
        x1, y1 = max(round((left + width) * sx), x0 + 1), max(round((top + height) * sy), y0 + 1)
        crop = image.bgr[y0:y1, x0:x1]
        out_h, out_w = self.scale
        if crop.shape[0] <= out_h and crop.shape[1] <= out_w:  # enlarged both ways: plain bilinear
            return cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        nchw = torch.from_numpy(crop).permute(2, 0, 1)[None]  # a view (NHWC strides): torch's uint8 AVX2 kernel
        with single_thread():
            out = F.interpolate(nchw, size=(out_h, out_w), mode='bilinear', antialias=True, align_corners=False)
        return out[0].permute(1, 2, 0).numpy()


TRUNCATE = 0.5 - 1e-4  # OpenCV rounds; ``round(v - TRUNCATE)`` is ``floor(v)`` (Pillow and mmcv truncate)
RAMP = np.arange(256, dtype=np.float32)


def _blend_lut(factor: float, center: float) -> np.ndarray:
    """The uint8 table of Pillow's ``Image.blend`` of a solid ``center`` image with ``x`` by ``factor``:
    ``center + factor * (x - center)`` in float32, truncated and clipped."""
    return np.floor(center + np.float32(factor) * (RAMP - center)).clip(0, 255).astype(np.uint8)


def adjust_brightness(bgr: np.ndarray, factor: float) -> np.ndarray:
    """``ImageEnhance.Brightness`` (mmcv's ``adjust_brightness``, backend pillow): blend with black."""
    return cv2.LUT(bgr, _blend_lut(factor, 0.))


def adjust_contrast(bgr: np.ndarray, factor: float) -> np.ndarray:
    """``ImageEnhance.Contrast``: blend with the mean grey level (rounded, as Pillow)."""
    mean = int(cv2.mean(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))[0] + 0.5)
    return cv2.LUT(bgr, _blend_lut(factor, mean))


def adjust_saturation(bgr: np.ndarray, factor: float) -> np.ndarray:
    """``ImageEnhance.Color``: blend with the grey image (truncated, as Pillow)."""
    gray = cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return cv2.addWeighted(bgr, factor, gray, 1. - factor, -TRUNCATE)


HUE_TO_PILLOW = np.floor(RAMP * 255 / 256).astype(np.int64)  # OpenCV's hue (256 per turn, rounded) -> Pillow's


def adjust_hue(bgr: np.ndarray, factor: float) -> np.ndarray:
    """mmcv's ``adjust_hue`` (backend pillow): shift Pillow's 8-bit HSV hue (255 per turn, truncated) by
    ``uint8(factor * 255)``, wrapping. OpenCV's hue is mapped onto Pillow's steps and shifted in one lookup table;
    the conversion back is the same as Pillow's."""
    shift = int(np.int64(factor * 255) % 256)  # mmcv's np.uint8(factor * 255): truncated, negatives wrap
    hue, saturation, value = cv2.split(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV_FULL))
    hue = cv2.LUT(hue, ((HUE_TO_PILLOW + shift) % 256).astype(np.uint8))
    return cv2.cvtColor(cv2.merge([hue, saturation, value]), cv2.COLOR_HSV2BGR_FULL)


@TRANSFORMS.register_module()
class FastColorJitter(ColorJitter):
    """mmpretrain's ``ColorJitter`` (same factors and random order) on uint8 with OpenCV: see the ``adjust_*``
    functions of this module."""

    OPS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)  # mmpretrain's index order

    def transform(self, results: dict) -> dict:
        order, *factors = self._rand_params()
        img = results['img']
        for index in order:
            if factors[index] is not None:
                img = self.OPS[index](img, factors[index])
        results['img'] = img
        return results


@TRANSFORMS.register_module()
class FastRandomGrayscale(RandomGrayscale):
    """mmcv's ``RandomGrayscale`` (same probability, same weighted sum, truncated) as one ``cv2.transform`` for a
    3-channel BGR image kept 3-channel; other settings fall back to mmcv's."""

    def transform(self, results: dict) -> dict:
        img = results['img']
        weights = np.asarray(self.channel_weights, dtype=float)
        standard = self.color_format == 'bgr' and self.keep_channels and img.ndim == 3 and img.shape[2] == 3
        if not standard:
            return super().transform(results)
        if self._random_prob() < self.prob:
            gray = cv2.transform(img, np.append(weights / weights.sum(), -TRUNCATE)[None])  # truncated, as mmcv
            results['img'] = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        return results


@TRANSFORMS.register_module()
class FastGaussianBlur(GaussianBlur):
    """mmpretrain's ``GaussianBlur`` (same probability and sigma distribution; Pillow's ``radius`` is the Gaussian's
    standard deviation) as a separable Gaussian over +-3 sigma (``GaussianBlur``'s own kernel size for uint8), edges
    replicated. ``cv2.sepFilter2D`` runs it about twice as fast as ``cv2.GaussianBlur``'s bit-exact uint8 path."""

    def transform(self, results: dict) -> dict:
        if self.random_disable():
            return results
        sigma = self.radius if self.radius is not None else self.random_magnitude()
        kernel = cv2.getGaussianKernel(2 * round(3 * sigma) + 1, sigma)
        results['img'] = cv2.sepFilter2D(results['img'], -1, kernel, kernel, borderType=cv2.BORDER_REPLICATE)
        return results


@TRANSFORMS.register_module()
class FastRandomFlip(RandomFlip):
    """mmcv's ``RandomFlip`` (same draws) that flips an image-only sample with ``cv2.flip``: a contiguous copy, where
    mmcv's ``np.flip`` view makes ``PackInputs`` gather the pixels one by one (a hundred times slower)."""

    ANNOTATIONS = ('gt_bboxes', 'gt_keypoints', 'gt_seg_map')

    def _flip(self, results: dict) -> None:
        if results['flip_direction'] != 'horizontal' or any(k in results for k in self.ANNOTATIONS):
            return super()._flip(results)
        results['img'] = cv2.flip(results['img'], 1)
