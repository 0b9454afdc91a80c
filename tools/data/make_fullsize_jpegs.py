"""Make ImageNet-sized JPEGs from small real images, for benchmarking an input pipeline at 224 px.

    python tools/data/make_fullsize_jpegs.py /work/shared/data/tinyimagenet10-dev/train work_dirs/fullsize \
        --num 200 [--size 500x375] [--quality 90]

Takes the first ``--num`` images of ``SRC_DIR`` (``<class>/<image>`` folders, sorted, taken round-robin over the
classes), upsamples each with Pillow's bicubic filter to ``--size`` (WIDTHxHEIGHT, ImageNet's most common size is
500x375) and re-encodes it with Pillow at ``--quality`` (ImageNet's JPEGs are mostly quality ~90, 4:2:0 chroma), as
``OUT_DIR/<class>/<stem>.JPEG``: the layout mmpretrain's ``CustomDataset`` reads. Upsampled images are smoother than
photographs of that size, so they compress smaller and decode somewhat faster; the script prints their mean size
(real ImageNet-1k train JPEGs average about 110 KB) so a benchmark can say so.
"""
import argparse
import sys
from itertools import zip_longest
from pathlib import Path

from PIL import Image

from simsiam_mm.errors import cli_main

IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.bmp', '.webp'}


def parse_size(text: str) -> tuple[int, int]:
    """``'500x375'`` -> ``(500, 375)`` (width, height)."""
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'--size {text!r}: expected WIDTHxHEIGHT, e.g. 500x375') from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f'--size {text!r}: width and height must be positive')
    return width, height


def source_images(src: Path, num: int) -> list[Path]:
    """The first ``num`` images of ``src``, round-robin over its class folders (sorted): every class shows up."""
    folders = sorted(p for p in src.iterdir() if p.is_dir()) or [src]
    per_class = [sorted(p for p in f.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) for f in folders]
    interleaved = [p for group in zip_longest(*per_class) for p in group if p is not None]
    return interleaved[:num]


def make_jpegs(src: Path, out: Path, num: int, size: tuple[int, int], quality: int) -> list[Path]:
    """Write the upsampled re-encodes; return their paths."""
    written = []
    for path in source_images(src, num):
        folder = out / path.parent.name if path.parent != src else out
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f'{path.stem}.JPEG'
        with Image.open(path) as img:
            img.convert('RGB').resize(size, Image.Resampling.BICUBIC).save(target, 'JPEG', quality=quality)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src_dir', type=Path, help='folder of <class>/<image> files (e.g. tinyimagenet10-dev/train)')
    parser.add_argument('out_dir', type=Path, help='where to write <class>/<stem>.JPEG')
    parser.add_argument('--num', type=int, required=True, help='how many images to write')
    parser.add_argument('--size', type=parse_size, default=(500, 375), help='WIDTHxHEIGHT (default 500x375)')
    parser.add_argument('--quality', type=int, default=90, help='JPEG quality 1-95 (default 90)')
    args = parser.parse_args(argv)
    if not args.src_dir.is_dir():
        parser.error(f'SRC_DIR {args.src_dir}: not a folder')
    if args.num <= 0 or not 1 <= args.quality <= 95:
        parser.error('--num must be positive and --quality in 1-95')
    written = make_jpegs(args.src_dir, args.out_dir, args.num, args.size, args.quality)
    if len(written) < args.num:
        print(f'{args.src_dir}: only {len(written)} images found, fewer than --num {args.num}', file=sys.stderr)
        if not written:
            return 1
    mean_kb = sum(p.stat().st_size for p in written) / len(written) / 1024
    print(f'wrote {len(written)} JPEGs of {args.size[0]}x{args.size[1]} at quality {args.quality} to {args.out_dir} '
          f'(mean {mean_kb:.1f} KB)')
    return 0


if __name__ == '__main__':
    sys.exit(cli_main(main)())
