"""Every Pillow colour mode loads as correct 8-bit RGB, checked against the source pixel values (never against
Pillow's own ``convert('RGB')``, which saturates 16-bit data to white)."""
import numpy as np
import pytest
from PIL import Image

from simsiam_mm.datasets import SafeLoadImageFromFile
from simsiam_mm.datasets.loading import decode_rgb

H, W = 4, 5


def _ramp(high: int) -> np.ndarray:
    """H x W values spread over 0..high (both ends included)."""
    return np.linspace(0, high, H * W).round().astype(np.int64).reshape(H, W)


def _load(tmp_path, img: Image.Image, name: str) -> np.ndarray:
    """Save ``img`` as ``name`` and load it through the real pipeline step; return RGB."""
    img.save(tmp_path / name)
    bgr = SafeLoadImageFromFile(skip_corrupt=False)(dict(img_path=str(tmp_path / name)))['img']
    return bgr[..., ::-1]


def _gray3(values: np.ndarray) -> np.ndarray:
    return np.repeat(values[..., None], 3, axis=2).astype(np.uint8)


def test_16bit_grayscale_png_is_scaled_not_saturated(tmp_path):
    """A 16-bit PNG ramp 0..65535 becomes 0..255 (value / 257, rounded): Pillow's convert('RGB') makes it white."""
    source = _ramp(65535).astype(np.uint16)
    rgb = _load(tmp_path, Image.fromarray(source), 'gray16.png')
    np.testing.assert_array_equal(rgb, _gray3(np.rint(source / 257.0)))
    assert rgb.min() == 0 and rgb.max() == 255 and len(np.unique(rgb)) == H * W
    saturated = np.asarray(Image.open(tmp_path / 'gray16.png').convert('RGB'))
    assert (saturated == 255).mean() > 0.9  # what the old loader produced: the test above would catch it


@pytest.mark.parametrize('mode', ['I;16', 'I;16B', 'I'])
def test_16bit_integer_modes(mode):
    source = _ramp(65535)
    img = Image.fromarray(source.astype(np.uint16)).convert('I') if mode == 'I' else \
        Image.frombytes(mode, (W, H), source.astype('<u2' if mode == 'I;16' else '>u2').tobytes())
    assert img.mode == mode
    np.testing.assert_array_equal(decode_rgb(_png_or_tiff(img), mode), _gray3(np.rint(source / 257.0)))


def _png_or_tiff(img: Image.Image) -> bytes:
    import io
    buf = io.BytesIO()
    img.save(buf, format='TIFF' if img.mode in ('F', 'I;16B', 'YCbCr', 'CMYK', 'I') else 'PNG')
    return buf.getvalue()


def test_32bit_integer_beyond_16_bits_uses_its_range():
    source = _ramp(4) * 1_000_000 - 2_000_000  # -2e6 .. 2e6
    out = decode_rgb(_png_or_tiff(Image.fromarray(source.astype(np.int32), 'I')), 'i32')
    np.testing.assert_array_equal(out, _gray3(np.rint((source - source.min()) * 255 / np.ptp(source))))


def test_float_modes_0_to_1_and_other_ranges():
    unit = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
    out = decode_rgb(_png_or_tiff(Image.fromarray(unit, 'F')), 'f01')
    np.testing.assert_array_equal(out, _gray3(np.rint(unit.astype(np.float64) * 255)))
    wide = (unit * 1000 - 500).astype(np.float32)
    out = decode_rgb(_png_or_tiff(Image.fromarray(wide, 'F')), 'fwide')
    w = wide.astype(np.float64)
    np.testing.assert_array_equal(out, _gray3(np.rint((w - w.min()) * 255 / np.ptp(w))))


def test_bilevel_gray_gray_alpha_rgba(tmp_path):
    bits = (_ramp(1) > 0)
    np.testing.assert_array_equal(_load(tmp_path, Image.fromarray(bits), 'bits.png'), _gray3(bits * 255))
    gray = _ramp(255).astype(np.uint8)
    np.testing.assert_array_equal(_load(tmp_path, Image.fromarray(gray, 'L'), 'l.png'), _gray3(gray))
    alpha = (255 - gray).astype(np.uint8)
    la = Image.fromarray(np.stack([gray, alpha], -1), 'LA')
    np.testing.assert_array_equal(_load(tmp_path, la, 'la.png'), _gray3(gray))
    rgb = np.stack([gray, 255 - gray, gray // 2], -1).astype(np.uint8)
    rgba = Image.fromarray(np.concatenate([rgb, alpha[..., None]], -1), 'RGBA')
    np.testing.assert_array_equal(_load(tmp_path, rgba, 'rgba.png'), rgb)  # colours kept, alpha dropped


def test_palette_uses_the_palette_colours(tmp_path):
    colours = np.array([[255, 0, 0], [0, 128, 0], [10, 20, 30], [200, 100, 50]], np.uint8)
    index = (_ramp(3) % 4).astype(np.uint8)
    img = Image.fromarray(index, 'P')
    img.putpalette(colours.flatten().tolist())
    np.testing.assert_array_equal(_load(tmp_path, img, 'p.png'), colours[index])


def test_cmyk_and_ycbcr_by_their_formulas():
    c, m, y, k = (_ramp(255), 255 - _ramp(255), np.full((H, W), 64), _ramp(255) // 3)
    cmyk = np.stack([c, m, y, k], -1).astype(np.uint8)
    out = decode_rgb(_png_or_tiff(Image.fromarray(cmyk, 'CMYK')), 'cmyk')
    expected = np.rint((255.0 - cmyk[..., :3]) * (255.0 - cmyk[..., 3:4]) / 255.0)
    np.testing.assert_array_equal(out, expected.astype(np.uint8))
    ycc = np.stack([_ramp(255), np.full((H, W), 128), np.full((H, W), 128)], -1).astype(np.uint8)
    out = decode_rgb(_png_or_tiff(Image.fromarray(ycc, 'YCbCr')), 'ycbcr')
    np.testing.assert_array_equal(out, _gray3(ycc[..., 0]))  # neutral chroma: R = G = B = Y
    ycc[..., 2] = 200  # Cr > 128: red rises by 1.402 * 72
    out = decode_rgb(_png_or_tiff(Image.fromarray(ycc, 'YCbCr')), 'ycbcr')
    np.testing.assert_array_equal(out[..., 0], np.clip(np.rint(ycc[..., 0] + 1.402 * 72), 0, 255))
