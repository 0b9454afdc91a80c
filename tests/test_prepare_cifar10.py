"""tools/data/prepare_cifar10.py on an archive in the official pickle format (a few images per batch)."""
import io
import pickle
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from conftest import REPO

TOOL = REPO / 'tools/data/prepare_cifar10.py'
TRAIN_BATCHES = [f'data_batch_{i}' for i in range(1, 6)]  # the official archive's batch files
TEST_BATCHES = ['test_batch']
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


def convert(source, out) -> subprocess.CompletedProcess:
    """Run the tool as a user does."""
    return subprocess.run([sys.executable, str(TOOL), str(source), str(out)], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow  # a prepare_cifar10.py process: ~8 s of imports
def test_convert_writes_lossless_class_folders(tmp_path):
    batches = make_archive(tmp_path / 'c.tar.gz')
    run = convert(tmp_path / 'c.tar.gz', tmp_path / 'out')
    assert run.returncode == 0, run.stderr
    assert f'wrote 15 train and 3 test images under {tmp_path / "out"}' in run.stdout
    assert {s: len(list((tmp_path / 'out' / s).rglob('*.png'))) for s in ('train', 'test')} == {'train': 15, 'test': 3}
    data, labels = batches['test_batch']
    for i, (row, label) in enumerate(zip(data, labels)):
        img = np.asarray(Image.open(tmp_path / 'out' / 'test' / CLASSES[label] / f'{i:05d}.png'))
        np.testing.assert_array_equal(img, row.reshape(3, 32, 32).transpose(1, 2, 0))  # channel order kept


@pytest.mark.slow  # a prepare_cifar10.py process: ~8 s of imports
def test_missing_batch_is_named(tmp_path):
    make_archive(tmp_path / 'c.tar.gz', drop='data_batch_3')
    run = convert(tmp_path / 'c.tar.gz', tmp_path / 'out')
    assert run.returncode != 0 and "['data_batch_3']" in run.stderr and 'c.tar.gz' in run.stderr
    assert 'Traceback' not in run.stderr
