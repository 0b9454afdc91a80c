"""Load an image robustly: always 3-channel, and a truncated or non-image file is a counted skip or a clear error.

mmcv's ``LoadImageFromFile`` stops with ``AssertionError: failed to load image`` on the first bad file of a
million-image run, or (depending on the libjpeg build) silently decodes a truncated JPEG with a grey bottom. Here a
file that Pillow cannot fully decode is either skipped (the dataset draws another sample, as mmengine's
``BaseDataset`` does when a transform returns ``None``) with a warning that counts the skips, or, once the skipped
fraction passes ``max_skip_fraction``, stops training with a :class:`CorruptImageError` naming the last file.
"""
import io
import logging

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.logging import print_log
from PIL import Image, ImageFile, ImageOps

from simsiam_mm.datasets.samplers import seed_sample_rngs
from simsiam_mm.errors import ConfigError, CorruptImageError
from simsiam_mm.registry import TRANSFORMS

EXIF_ORIENTATION = 0x0112


def decode_rgb(img_bytes: bytes, filename: str) -> np.ndarray:
    """Decode ``img_bytes`` completely and return an HxWx3 uint8 RGB array.

    Grayscale, palette, RGBA, 16-bit and CMYK images are converted to RGB (EXIF orientation applied, as OpenCV does).
    Raises :class:`CorruptImageError` naming ``filename`` for a file that is not an image or is cut short.
    """
    truncated_ok = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail, not decode to a grey bottom
    try:
        with Image.open(io.BytesIO(img_bytes)) as img:
            img.load()  # decodes every byte: raises on truncation
            mode = img.mode
            if img.getexif().get(EXIF_ORIENTATION, 1) != 1:
                img = ImageOps.exif_transpose(img)
            if img.mode != 'RGB':
                img = img.convert('RGB')
            rgb = np.asarray(img)  # HxWx3 uint8
    except Image.UnidentifiedImageError as e:
        raise CorruptImageError(f'{filename}: not an image file that Pillow can read ({len(img_bytes)} bytes, '
                                f'starts with {img_bytes[:8]!r}).') from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise CorruptImageError(f'{filename}: the image is truncated or corrupt ({e}).') from e
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated_ok
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise CorruptImageError(f'{filename}: decoded to shape {rgb.shape} from mode {mode!r}, expected HxWx3.')
    return rgb


@TRANSFORMS.register_module()
class SafeLoadImageFromFile(BaseTransform):
    """Drop-in for ``LoadImageFromFile`` (same output: ``img`` HxWx3 uint8 in BGR order, ``img_shape``,
    ``ori_shape``) that converts every colour mode to 3 channels and applies the corrupt-image policy.

    Args:
        skip_corrupt: return ``None`` for a corrupt file, so the dataset loads another sample (training only: a test
            dataset refuses ``None``); ``False`` raises at once.
        max_skip_fraction: stop when more than this fraction of the images this process has loaded were corrupt.
        min_samples: judge the fraction only after this many loads (one bad file among the first few is no trend).
        to_float32: return float32 instead of uint8.
        backend_args: file backend arguments, as for ``LoadImageFromFile``.

    As the first transform it also seeds the random generators from the sample's ``aug_seed`` when the index comes
    from :class:`ResumableSampler` (see :func:`seed_sample_rngs`).

    Counts are per process (each dataloader worker counts the images it loaded), so the fraction is an estimate over
    that worker's share of the data.

    Examples:
        >>> load = SafeLoadImageFromFile(max_skip_fraction=0.01)
        >>> results = load(dict(img_path='data/cifar10/train/cat/0000.jpg'))  # doctest: +SKIP
        >>> results['img'].shape  # doctest: +SKIP
        (32, 32, 3)
    """

    def __init__(self, skip_corrupt: bool = True, max_skip_fraction: float = 0.01, min_samples: int = 100,
                 to_float32: bool = False, backend_args: dict | None = None) -> None:
        if not 0 <= max_skip_fraction < 1:
            raise ConfigError(f'SafeLoadImageFromFile: max_skip_fraction={max_skip_fraction} must be in [0, 1)')
        self.skip_corrupt = skip_corrupt
        self.max_skip_fraction = max_skip_fraction
        self.min_samples = min_samples
        self.to_float32 = to_float32
        self.backend_args = backend_args
        self.num_loaded = 0
        self.num_skipped = 0

    def transform(self, results: dict) -> dict | None:
        seed_sample_rngs(results)  # the augmentations that follow draw from this sample's own seed, if it has one
        filename = results['img_path']
        self.num_loaded += 1
        try:
            img_bytes = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError as e:
            raise CorruptImageError(f'{filename}: the image file listed by the dataset does not exist.') from e
        try:
            rgb = decode_rgb(img_bytes, filename)
        except CorruptImageError as e:
            if not self.skip_corrupt:
                raise
            return self._skip(e)
        img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # HxWx3 BGR, as LoadImageFromFile; data_preprocessor to_rgb
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _skip(self, error: CorruptImageError) -> None:
        self.num_skipped += 1
        fraction = self.num_skipped / self.num_loaded
        if self.num_loaded >= self.min_samples and fraction > self.max_skip_fraction:
            raise CorruptImageError(
                f'{error} Too many corrupt images: {self.num_skipped} of the {self.num_loaded} loaded in this process '
                f'({fraction:.1%}) exceed max_skip_fraction={self.max_skip_fraction:.1%} of SafeLoadImageFromFile. '
                'Check the dataset (e.g. an interrupted download or extraction), or raise max_skip_fraction in the '
                'pipeline config.') from error
        print_log(f'SafeLoadImageFromFile: skipped corrupt image ({self.num_skipped} skipped of {self.num_loaded} '
                  f'loaded in this process, limit {self.max_skip_fraction:.1%}): {error}', logger='current',
                  level=logging.WARNING)
        return None

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(skip_corrupt={self.skip_corrupt}, max_skip_fraction='
                f'{self.max_skip_fraction}, min_samples={self.min_samples}, to_float32={self.to_float32})')
