"""Regenerate ``data_samples/cifar10-mini``: a class-balanced CIFAR-10 subset shipped in the repository as PNG.

    python tools/data/make_cifar10_mini.py ../shared/data/cifar10 data_samples/cifar10-mini
    # or from the folders tools/data/prepare_cifar10.py writes: ... data/cifar10 data_samples/cifar10-mini

From each class folder of ``<source>/{train,test}`` it takes ``--train-per-class`` / ``--test-per-class`` images,
drawn with a fixed seed from the sorted file names (the same source gives the same files, byte for byte), and writes
them as lossless PNG under the source file's stem: ``<out>/{train,test}/<class>/<stem>.png``. The output folder must
not exist (nothing is overwritten).
"""
import argparse
import random
from pathlib import Path

from PIL import Image

from simsiam_mm.errors import DataError, MissingPathError, WorkDirError, add_debug_flag, cli_main

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')


def pick(files: list[Path], count: int, seed: int, where: Path) -> list[Path]:
    """``count`` of ``files`` drawn with ``seed`` from their sorted order, returned sorted."""
    files = sorted(files)
    if len(files) < count:
        raise DataError(f'{where}: holds {len(files)} images, fewer than the {count} asked for — give the full '
                        'CIFAR-10 folders or ask for fewer per class.')
    return sorted(random.Random(seed).sample(files, count))


def make_subset(source: Path, out: Path, per_class: dict[str, int], seed: int = 0) -> dict[str, int]:
    """Write the subset; returns the number of images per split."""
    if not source.is_dir():
        raise MissingPathError(f'{source}: no such folder — give CIFAR-10 as {{train,test}}/<class>/ image folders '
                               '(tools/data/prepare_cifar10.py writes them from the official archive).')
    if out.exists():
        raise WorkDirError(f'{out}: exists — remove it first or choose another output folder (nothing is '
                           'overwritten).')
    counts = {}
    for split, count in per_class.items():
        classes = sorted(p for p in (source / split).iterdir() if p.is_dir()) if (source / split).is_dir() else []
        if not classes:
            raise MissingPathError(f'{source / split}: no class folders — give CIFAR-10 as {{train,test}}/<class>/.')
        counts[split] = 0
        for index, folder in enumerate(classes):
            images = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
            target = out / split / folder.name
            target.mkdir(parents=True)
            for path in pick(images, count, seed * 1000 + index, folder):
                with Image.open(path) as image:
                    image.convert('RGB').save(target / f'{path.stem}.png', optimize=True)
                counts[split] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('source', type=Path, help='CIFAR-10 as {train,test}/<class>/ image folders')
    parser.add_argument('out', type=Path, help='output folder (must not exist)')
    parser.add_argument('--train-per-class', type=int, default=50)
    parser.add_argument('--test-per-class', type=int, default=50)
    parser.add_argument('--seed', type=int, default=0)
    add_debug_flag(parser)
    args = parser.parse_args()
    counts = make_subset(args.source, args.out, dict(train=args.train_per_class, test=args.test_per_class), args.seed)
    print(f'{args.out}: ' + ', '.join(f'{n} {split} images' for split, n in counts.items()))


if __name__ == '__main__':
    cli_main(main)()
