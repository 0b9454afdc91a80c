"""tools/data/prepare_cifar10.py on an archive in the official pickle format (a few images per batch)."""
import io
import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from data.prepare_cifar10 import TEST_BATCHES, TRAIN_BATCHES, convert

CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']


def make_archive(path, per_batch=3, drop=None):
    rng = np.random.default_rng(0)
    batches = {}
    with tarfile.open(path, 'w:gz') as tar:
        def add(name, obj):
            raw = pickle.dumps(obj)
            info = tarfile.TarInfo(f'cifar-10-batches-py/{name}')
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
        add('batches.meta', {b'label_names': [c.encode() for c in CLASSES]})
        for name in TRAIN_BATCHES + TEST_BATCHES:
            if name == drop:
                continue
            data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
            labels = list(rng.integers(0, 10, per_batch))
            batches[name] = (data, labels)
            add(name, {b'data': data, b'labels': labels})
    return batches


def test_convert_writes_lossless_class_folders(tmp_path):
    batches = make_archive(tmp_path / 'c.tar.gz')
    counts = convert(tmp_path / 'c.tar.gz', tmp_path / 'out')
    assert counts == {'train': 15, 'test': 3}
    data, labels = batches['test_batch']
    for i, (row, label) in enumerate(zip(data, labels)):
        img = np.asarray(Image.open(tmp_path / 'out' / 'test' / CLASSES[label] / f'{i:05d}.png'))
        np.testing.assert_array_equal(img, row.reshape(3, 32, 32).transpose(1, 2, 0))  # channel order kept


def test_missing_batch_is_named(tmp_path):
    make_archive(tmp_path / 'c.tar.gz', drop='data_batch_3')
    with pytest.raises(FileNotFoundError, match='data_batch_3'):
        convert(tmp_path / 'c.tar.gz', tmp_path / 'out')
