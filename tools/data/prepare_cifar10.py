"""Write CIFAR-10 as ImageNet-style folders, the layout the CIFAR configs read.

    python tools/data/prepare_cifar10.py cifar-10-python.tar.gz data/cifar10   # archive from
    # https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (or the extracted cifar-10-batches-py folder)

gives ``data/cifar10/{train,test}/<class>/<index>.png`` (lossless PNG, 50,000 + 10,000 images).
"""
import argparse
import io
import pickle
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from simsiam_mm.errors import DataError, MissingPathError, add_debug_flag, cli_main

TRAIN_BATCHES = [f'data_batch_{i}' for i in range(1, 6)]
TEST_BATCHES = ['test_batch']


def _read_members(source: Path) -> dict[str, bytes]:
    """The pickled batch files, by base name, from the .tar.gz archive or the extracted folder."""
    wanted = set(TRAIN_BATCHES + TEST_BATCHES + ['batches.meta'])
    if source.is_dir():
        found = {p.name: p.read_bytes() for p in source.rglob('*') if p.name in wanted}
    elif tarfile.is_tarfile(source):
        with tarfile.open(source) as tar:
            found = {Path(m.name).name: tar.extractfile(m).read() for m in tar.getmembers()
                     if m.isfile() and Path(m.name).name in wanted}
    else:
        what = 'does not exist' if not source.exists() else 'is neither a folder nor a tar archive'
        raise DataError(f'{source}: {what} — give cifar-10-python.tar.gz or its extracted folder.')
    missing = sorted(wanted - set(found))
    if missing:
        raise MissingPathError(f'{source}: missing CIFAR-10 batch files {missing} — give the complete archive.')
    return found


def _images(batch: dict) -> Iterator[tuple[np.ndarray, int]]:
    data = np.asarray(batch[b'data'], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # NxHxWxC
    yield from zip(data, batch[b'labels'])


def convert(source: Path, out: Path) -> dict[str, int]:
    members = _read_members(source)
    classes = [n.decode() for n in pickle.loads(members['batches.meta'], encoding='bytes')[b'label_names']]
    counts = {}
    for split, names in (('train', TRAIN_BATCHES), ('test', TEST_BATCHES)):
        index = 0
        for name in names:
            for image, label in _images(pickle.load(io.BytesIO(members[name]), encoding='bytes')):
                folder = out / split / classes[label]
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(folder / f'{index:05d}.png')
                index += 1
        counts[split] = index
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', type=Path, help='cifar-10-python.tar.gz or its extracted folder')
    parser.add_argument('out', type=Path, nargs='?', default=Path('data/cifar10'), help='output root')
    add_debug_flag(parser)
    args = parser.parse_args()
    counts = convert(args.source, args.out)
    print(f'wrote {counts["train"]} train and {counts["test"]} test images under {args.out}')


if __name__ == '__main__':
    cli_main(main)()
