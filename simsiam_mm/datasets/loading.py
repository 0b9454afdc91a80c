"""Load an image robustly: always 3-channel, and a truncated or non-image file is a counted skip or a clear error.

mmcv's ``LoadImageFromFile`` stops with ``AssertionError: failed to load image`` on the first bad file of a
million-image run, or (depending on the libjpeg build) silently decodes a truncated JPEG with a grey bottom. Here a
file that Pillow cannot fully decode is either skipped (the dataset draws another sample, as mmengine's
``BaseDataset`` does when a transform returns ``None``) with a warning that counts the skips, or, once the skipped
fraction passes ``max_skip_fraction``, stops training with a :class:`CorruptImageError` naming the last file.

An image above the pixel limit (Pillow's decompression-bomb guard: a small file can expand to gigabytes) is not
corrupt and is not skipped: it stops with an :class:`ImageTooLargeError` that gives its size and how to allow it
(``max_image_pixels`` of the loader, or the environment variable ``SIMSIAM_MM_MAX_IMAGE_PIXELS``).
"""
import io
import logging
import os

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log
from PIL import Image, ImageFile, ImageOps

from simsiam_mm.errors import ConfigError, CorruptImageError, ImageTooLargeError
from simsiam_mm.registry import TRANSFORMS

EXIF_ORIENTATION = 0x0112
MAX_PIXELS_ENV = 'SIMSIAM_MM_MAX_IMAGE_PIXELS'
DEFAULT_MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS  # where Pillow's guard raises (it only warns from half of it)


def pixel_limit(value: int | str | None = None) -> int | None:
    """The pixel limit: ``value`` if given, else ``$SIMSIAM_MM_MAX_IMAGE_PIXELS``, else Pillow's (178,956,970 px);
    ``'none'`` (or 0) means no limit."""
    source = 'max_image_pixels'
    if value is None:
        value, source = os.environ.get(MAX_PIXELS_ENV), MAX_PIXELS_ENV
        if value is None or value == '':
            return DEFAULT_MAX_PIXELS
    if isinstance(value, str) and value.strip().lower() == 'none':
        return None
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = -1
    if isinstance(value, bool) or limit < 0:
        raise ConfigError(f'{source}={value!r}: not a pixel count — give a whole number of pixels (e.g. '
                          f'{source}=400000000) or none for no limit.')
    return limit or None


def check_pixels(size: tuple[int, int], filename: str, limit: int | None) -> None:
    """Refuse an image of ``size`` (width, height) above ``limit`` pixels, saying how to allow it."""
    pixels = size[0] * size[1]
    if limit is not None and pixels > limit:
        raise ImageTooLargeError(
            f'{filename}: {size[0]}x{size[1]} = {pixels:,} pixels is above the limit of {limit:,} that guards against '
            'decompression bombs (Pillow\'s; a small file can expand to gigabytes of memory); the file is not corrupt '
            f'— if you trust it, allow it with the environment variable {MAX_PIXELS_ENV}={pixels} (or none), or '
            f'max_image_pixels={pixels} of the loader in the pipeline config; or shrink the image.')


def _gray(values: np.ndarray) -> np.ndarray:
    return np.repeat(values[..., None], 3, axis=2)


def scale_to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``low..high`` linearly onto 0..255 with rounding (values outside are clipped)."""
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    scaled = (values.astype(np.float64) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _int_gray(img: Image.Image) -> np.ndarray:
    """16-bit modes (``I;16*``, and ``I``, which Pillow uses for 16-bit PNGs): 0..65535 -> 0..255. Mode ``I`` data
    outside 0..65535 (true 32-bit integers) is scaled by its own min..max instead."""
    values = np.asarray(img).astype(np.int64)
    if img.mode.startswith('I;16') or (values.size and values.min() >= 0 and values.max() <= 65535):
        return _gray(scale_to_uint8(values, 0, 65535))
    return _gray(scale_to_uint8(values, values.min(), values.max()))


def _float_gray(img: Image.Image) -> np.ndarray:
    """Mode ``F`` (32-bit float): 0..1 -> 0..255 when every value lies in [0, 1] (the usual convention for float
    images), otherwise the image's own min..max -> 0..255; NaN becomes 0."""
    values = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (0.0, 1.0) if values.size and values.min() >= 0 and values.max() <= 1 else (values.min(), values.max())
    return _gray(scale_to_uint8(values, low, high))


def _cmyk(img: Image.Image) -> np.ndarray:
    """R = (255 - C)(255 - K)/255 (likewise G from M, B from Y), rounded."""
    cmyk = np.asarray(img).astype(np.float64)
    rgb = (255.0 - cmyk[..., :3]) * (255.0 - cmyk[..., 3:4]) / 255.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _ycbcr(img: Image.Image) -> np.ndarray:
    """Full-range ITU-R BT.601 (the JPEG/JFIF convention) YCbCr -> RGB, rounded."""
    y, cb, cr = (np.asarray(img).astype(np.float64)[..., i] for i in range(3))
    rgb = np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                    y + 1.772 * (cb - 128)], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


MODE_TO_RGB = {
    'RGB': np.asarray,
    '1': lambda img: _gray(np.asarray(img).astype(np.uint8) * 255),
    'L': lambda img: _gray(np.asarray(img)),
    'LA': lambda img: _gray(np.asarray(img)[..., 0]),  # alpha dropped (colours kept as stored, like OpenCV)
    'RGBA': lambda img: np.asarray(img)[..., :3],
    'RGBX': lambda img: np.asarray(img)[..., :3],
    'P': lambda img: np.asarray(img.convert('RGBA'))[..., :3],  # palette lookup (exact, no scaling)
    'PA': lambda img: np.asarray(img.convert('RGBA'))[..., :3],
    'I': _int_gray,
    'F': _float_gray,
    'CMYK': _cmyk,
    'YCbCr': _ycbcr,
}


def to_rgb8(img: Image.Image) -> np.ndarray:
    """HxWx3 uint8 RGB for any Pillow mode, by scaling (never saturating) high-bit-depth data.

    ``1`` -> 0/255; ``L``/``LA`` -> grey repeated; ``RGBA``/``LA``/``PA`` drop alpha; ``P`` via its palette;
    ``I;16*`` 0..65535 -> 0..255; ``I`` as 16-bit when within 0..65535, else by its min..max; ``F`` 0..1 -> 0..255
    when within [0, 1], else by its min..max; ``CMYK`` and ``YCbCr`` by their standard formulas. Other modes
    (``LAB``, ``HSV``, ``RGBa``) use Pillow's conversion.
    """
    convert = MODE_TO_RGB.get('I' if img.mode.startswith('I;16') else img.mode)
    rgb = convert(img) if convert is not None else np.asarray(img.convert('RGB'))
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def image_size(path: str) -> tuple[int, int]:
    """(width, height) of an image file from its header, or a :class:`CorruptImageError` naming it."""
    try:
        with Image.open(path) as img:
            return img.size
    except FileNotFoundError:
        raise
    except Image.UnidentifiedImageError as e:
        raise CorruptImageError(f'{path}: not an image file that Pillow can read — remove it from the '
                                'dataset.') from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise CorruptImageError(f'{path}: the image is truncated or corrupt ({e}) — replace or remove the '
                                'file.') from e


def decode_rgb(img_bytes: bytes, filename: str, max_pixels: int | str | None = None) -> np.ndarray:
    """Decode ``img_bytes`` completely and return an HxWx3 uint8 RGB array.

    Every colour mode becomes RGB by :func:`to_rgb8` (16-bit and float images scaled, not saturated), with the EXIF
    orientation applied, as OpenCV does. Raises :class:`CorruptImageError` naming ``filename`` for a file that is
    not an image or is cut short, and :class:`ImageTooLargeError` for one above ``max_pixels`` pixels (see
    :func:`pixel_limit`).
    """
    limit = pixel_limit(max_pixels)
    truncated_ok, pillow_limit = ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail, not decode to a grey bottom
    Image.MAX_IMAGE_PIXELS = None  # the limit is checked below, with a message that says what to do
    try:
        with Image.open(io.BytesIO(img_bytes)) as img:
            check_pixels(img.size, filename, limit)  # from the header, before any pixel is decoded
            img.load()  # decodes every byte: raises on truncation
            mode = img.mode
            if img.getexif().get(EXIF_ORIENTATION, 1) != 1:
                img = ImageOps.exif_transpose(img)
            rgb = to_rgb8(img)
    except Image.UnidentifiedImageError as e:
        raise CorruptImageError(f'{filename}: not an image file that Pillow can read ({len(img_bytes)} bytes, '
                                f'starts with {img_bytes[:8]!r}) — remove it from the dataset.') from e
    except ImageTooLargeError:
        raise
    except (OSError, SyntaxError, ValueError) as e:
        raise CorruptImageError(f'{filename}: the image is truncated or corrupt ({e}) — replace or remove the '
                                'file.') from e
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = truncated_ok, pillow_limit
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
        max_image_pixels: refuse (never skip) an image with more pixels, naming it (``None``: the environment
            variable ``SIMSIAM_MM_MAX_IMAGE_PIXELS``, else Pillow's limit, 178,956,970; ``'none'``: no limit).
        to_float32: return float32 instead of uint8.
        backend_args: file backend arguments, as for ``LoadImageFromFile``.

    Counts are per process (each dataloader worker counts the images it loaded), so the fraction is an estimate over
    that worker's share of the data.

    Examples:
        >>> load = SafeLoadImageFromFile(max_skip_fraction=0.01)
        >>> results = load(dict(img_path='data/cifar10/train/cat/0000.jpg'))  # doctest: +SKIP
        >>> results['img'].shape  # doctest: +SKIP
        (32, 32, 3)
    """

    def __init__(self, skip_corrupt: bool = True, max_skip_fraction: float = 0.01, min_samples: int = 100,
                 to_float32: bool = False, backend_args: dict | None = None,
                 max_image_pixels: int | str | None = None) -> None:
        if not 0 <= max_skip_fraction < 1:
            raise ConfigError(f'SafeLoadImageFromFile: max_skip_fraction={max_skip_fraction} must be in [0, 1)')
        self.skip_corrupt = skip_corrupt
        self.max_skip_fraction = max_skip_fraction
        self.min_samples = min_samples
        self.to_float32 = to_float32
        self.backend_args = backend_args
        self.max_image_pixels = max_image_pixels
        pixel_limit(max_image_pixels)  # a bad value is refused now, not at the first image
        self.num_loaded = 0
        self.num_skipped = 0

    def transform(self, results: dict) -> dict | None:
        filename = results['img_path']
        self.num_loaded += 1
        try:
            img_bytes = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError as e:
            raise CorruptImageError(f'{filename}: the image file listed by the dataset does not exist.') from e
        try:
            image = self._decode(img_bytes, filename)
        except CorruptImageError as e:
            if not self.skip_corrupt:
                raise
            return self._skip(e)
        self._store(results, image)
        return results

    def _decode(self, img_bytes: bytes, filename: str) -> np.ndarray:
        """HxWx3 BGR, as ``LoadImageFromFile`` (the data preprocessor's ``to_rgb`` flips it back)."""
        return cv2.cvtColor(decode_rgb(img_bytes, filename, self.max_image_pixels), cv2.COLOR_RGB2BGR)

    def _store(self, results: dict, img: np.ndarray) -> None:
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = results['ori_shape'] = img.shape[:2]

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
                  f'loaded in this process; training stops once more than {self.max_skip_fraction:.1%} are corrupt, '
                  f'judged after min_samples={self.min_samples} loads): {error}', logger='current',
                  level=logging.WARNING)
        return None

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(skip_corrupt={self.skip_corrupt}, max_skip_fraction='
                f'{self.max_skip_fraction}, min_samples={self.min_samples}, to_float32={self.to_float32})')


@TRANSFORMS.register_module(name='LoadImageFromFile')
class CheckedLoadImageFromFile(MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` (OpenCV: the same pixels and speed; the same arguments), registered under its
    name in our scope, for what OpenCV cannot read: such a file is decoded with Pillow (:func:`decode_rgb`: GIF,
    16-bit and odd modes) or refused with a :class:`CorruptImageError` that names it (mmcv: ``AssertionError: failed
    to load image``). ``ignore_empty=True`` still returns ``None`` for it. A JPEG that OpenCV decodes despite a cut
    end is not caught here: :class:`SafeLoadImageFromFile` checks every byte."""

    def transform(self, results: dict) -> dict | None:
        filename = results['img_path']
        try:
            return super().transform(results)
        except FileNotFoundError as e:
            raise CorruptImageError(f'{filename}: the image file listed by the dataset does not exist.') from e
        except (AssertionError, cv2.error, ValueError, OSError) as e:
            if self.ignore_empty:
                return None
            if self.color_type != 'color':
                raise CorruptImageError(f'{filename}: OpenCV cannot decode this image ({e}) — replace the file or '
                                        'load it with SafeLoadImageFromFile.') from e
        img = cv2.cvtColor(decode_rgb(fileio.get(filename, backend_args=self.backend_args), filename),
                           cv2.COLOR_RGB2BGR)
        results['img'] = img.astype(np.float32) if self.to_float32 else img
        results['img_shape'] = results['ori_shape'] = img.shape[:2]
        return results
