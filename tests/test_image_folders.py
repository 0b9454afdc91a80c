"""Issue 22's new-path fixes, in-process (seconds): image folders read every common format and count what they
leave out; the pixel limit is its own error with a way to allow it; OpenCV's loader names what it cannot read;
mixed sizes in a kNN batch, a space in --cfg-options, a work dir where nothing can be created, a kit re-built over
its results. The same cases through the real command lines: tests/test_bad_inputs.py."""
import importlib.util
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO


@pytest.fixture
def folder(cifar10_root: Path, tmp_path: Path) -> Path:
    """train/{cat,dog}/: one CIFAR-10 JPEG each, saved again as .webp, .tiff, .gif, .JPEG; and a notes.txt."""
    import simsiam_mm  # noqa: F401
    root = tmp_path / 'images'
    for cls in ('cat', 'dog'):
        (root / 'train' / cls).mkdir(parents=True)
        src = sorted((cifar10_root / 'train' / cls).glob('*.jpg'))[0]
        shutil.copy(src, root / 'train' / cls / 'a.jpg')
        with Image.open(src) as img:
            for ext in ('.webp', '.tiff', '.gif', '.JPEG'):
                img.save(root / 'train' / cls / f'b{ext}', format={'.JPEG': 'JPEG'}.get(ext))
        (root / 'train' / cls / 'notes.txt').write_text('not an image')
    return root


def test_folder_datasets_read_every_common_format_and_count_the_rest(folder: Path):
    from mmengine.registry import init_default_scope

    from simsiam_mm.datasets.folder import IMAGE_EXTENSIONS, left_out_message
    from simsiam_mm.registry import DATASETS
    init_default_scope('simsiam_mm')
    ds = DATASETS.build(dict(type='CustomDataset', data_root=str(folder), data_prefix='train',
                             pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')]))
    names = sorted(Path(ds.get_data_info(i)['img_path']).name for i in range(len(ds)))
    assert names == sorted(['a.jpg', 'b.webp', 'b.tiff', 'b.gif', 'b.JPEG'] * 2)
    assert ds.get_gt_labels().tolist() == [0] * 5 + [1] * 5
    assert all(ds[i]['inputs'].shape == (3, 32, 32) for i in range(len(ds)))  # the GIF too (OpenCV cannot)
    assert ds.left_out_files == ['notes.txt', 'notes.txt'] and ds._examples() == ['cat/notes.txt']
    msg = left_out_message('CustomDataset', 'x/train', ['cat/notes.txt'], IMAGE_EXTENSIONS, 2)
    assert msg.startswith('CustomDataset: left out 2 files that are not images under x/train (the extensions read:')
    assert DATASETS.get('ImageNet').IMG_EXTENSIONS == IMAGE_EXTENSIONS
    # mmpretrain's own class, for contrast: the .webp, .tiff and .gif files are silently not there
    from mmpretrain.datasets import CustomDataset
    assert len(CustomDataset(data_root=str(folder), data_prefix='train')) == 4


def test_opencv_loader_names_what_it_cannot_read_and_decodes_gif_with_pillow(folder: Path, tmp_path: Path):
    from mmcv.transforms import LoadImageFromFile as MMCVLoad

    from simsiam_mm.datasets.loading import CheckedLoadImageFromFile, decode_rgb
    from simsiam_mm.errors import CorruptImageError
    load = CheckedLoadImageFromFile()
    jpg = str(folder / 'train/cat/a.jpg')
    assert np.array_equal(load(dict(img_path=jpg))['img'], MMCVLoad()(dict(img_path=jpg))['img'])
    gif = folder / 'train/cat/b.gif'
    expected = cv2.cvtColor(decode_rgb(gif.read_bytes(), str(gif)), cv2.COLOR_RGB2BGR)
    assert np.array_equal(load(dict(img_path=str(gif)))['img'], expected)
    cut = tmp_path / 'cut.jpg'
    cut.write_bytes((folder / 'train/cat/a.jpg').read_bytes()[:300])
    with pytest.raises(CorruptImageError, match='cut.jpg'):
        load(dict(img_path=str(cut)))
    assert CheckedLoadImageFromFile(ignore_empty=True)(dict(img_path=str(cut))) is None
    from simsiam_mm.datasets.loading import image_size  # learning_evidence's description reads sizes with it
    assert image_size(jpg) == (32, 32)
    with pytest.raises(CorruptImageError, match='cut.jpg: the image is truncated or corrupt'):
        image_size(str(cut))


def test_pixel_limit_is_not_corruption_and_says_how_to_allow_it(folder: Path, monkeypatch):
    from simsiam_mm.datasets import FastLoadImageFromFile, SafeLoadImageFromFile
    from simsiam_mm.datasets.loading import MAX_PIXELS_ENV, pixel_limit
    from simsiam_mm.errors import ConfigError, CorruptImageError, ImageTooLargeError
    path = str(folder / 'train/cat/a.jpg')  # 32x32 = 1024 pixels
    load = SafeLoadImageFromFile(skip_corrupt=True, max_image_pixels=1000)
    with pytest.raises(ImageTooLargeError, match='32x32 = 1,024 pixels is above the limit of 1,000') as e:
        load(dict(img_path=path))
    assert not isinstance(e.value, CorruptImageError) and load.num_skipped == 0  # refused, not skipped or counted
    assert f'{MAX_PIXELS_ENV}=1024' in str(e.value)
    with pytest.raises(ImageTooLargeError):
        FastLoadImageFromFile(max_image_pixels=1000)(dict(img_path=path))  # the OpenCV fast path checks it too
    assert SafeLoadImageFromFile(max_image_pixels=1024)(dict(img_path=path))['img'].shape == (32, 32, 3)
    monkeypatch.setenv(MAX_PIXELS_ENV, '1000')
    with pytest.raises(ImageTooLargeError):
        SafeLoadImageFromFile()(dict(img_path=path))
    monkeypatch.setenv(MAX_PIXELS_ENV, 'none')
    assert pixel_limit() is None and SafeLoadImageFromFile()(dict(img_path=path))['img'].shape == (32, 32, 3)
    monkeypatch.setenv(MAX_PIXELS_ENV, 'lots')
    with pytest.raises(ConfigError, match=MAX_PIXELS_ENV):
        SafeLoadImageFromFile()
    monkeypatch.delenv(MAX_PIXELS_ENV)
    assert pixel_limit() == 2 * Image.MAX_IMAGE_PIXELS  # Pillow's own error threshold


def test_knn_batch_of_mixed_sizes_names_the_files():
    from mmpretrain.structures import DataSample

    from simsiam_mm.errors import DataError
    from simsiam_mm.evaluation.knn import build_eval_loader, collate_one_size
    items = [dict(inputs=torch.zeros(3, h, w), data_samples=DataSample(img_path=f'{name}.jpg'))
             for name, h, w in (('big', 64, 64), ('small', 20, 24))]
    with pytest.raises(DataError, match=r'small.jpg: images of different sizes in one batch \(24x20 here, 64x64 in '
                                        r'big.jpg\).*--resize'):
        collate_one_size(items)
    assert collate_one_size(items[:1])['inputs'][0].shape == (3, 64, 64)
    with pytest.raises(DataError, match='num_per_class=0'):
        build_eval_loader(dict(type='CustomDataset'), num_per_class=0)


def test_cfg_options_space_is_refused_with_what_works(tmp_path: Path):
    from simsiam_mm.apis.config import check_spaces, load_config
    from simsiam_mm.errors import ConfigError
    key = 'train_dataloader.dataset.data_root'
    with pytest.raises(ConfigError, match=r"removes every space .*it would be '/d/myimages'.*train_dataloader = "
                                          r"dict\(dataset=dict\(data_root='/d/my images'\)\)"):
        check_spaces({key: '/d/myimages'}, [f'{key}=/d/my images'])
    check_spaces({key: '/d/images'}, [f'{key}=/d/images'])
    check_spaces({'model.backbone.out_indices': [0, 1]}, ['model.backbone.out_indices=[0, 1]'])  # list spaces: fine
    # the advice works: a config of one's own merges the path, spaces kept
    cfg_file = tmp_path / 'mine.py'
    cfg_file.write_text(f"_base_ = ['{REPO}/configs/simsiam/simsiam_resnet18-cifar_1xb32-coslr-1e-2k_cifar10-quick.py']"
                        "\ntrain_dataloader = dict(dataset=dict(data_root='/d/my images'))\n")
    cfg = load_config(str(cfg_file))
    assert cfg.train_dataloader.dataset.data_root == '/d/my images' and cfg.train_dataloader.batch_size == 32


def test_work_dir_where_no_folder_can_be_created(tmp_path: Path):
    from simsiam_mm.apis.config import check_values, check_work_dir
    from simsiam_mm.errors import ConfigError, WorkDirError
    if Path('/proc/self').exists():
        with pytest.raises(WorkDirError, match='/proc accepts no new folder') as e:
            check_work_dir('/proc/simsiam_mm_run')
        assert 'typo' not in str(e.value)
    check_work_dir(str(tmp_path / 'new' / 'run'))
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing
    from mmengine.config import Config
    for bad in (0, 1):
        with pytest.raises(ConfigError, match=f'train_dataloader.batch_size={bad} must be >= 2'):
            check_values(Config(dict(train_dataloader=dict(batch_size=bad))))
    check_values(Config(dict(train_dataloader=dict(batch_size=2), test_dataloader=dict(batch_size=1))))


def test_kit_force_replaces_only_what_build_kit_wrote(tmp_path: Path):
    spec = importlib.util.spec_from_file_location('build_kit', REPO / 'tools/kit/build_kit.py')
    build_kit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_kit)
    kit, new = tmp_path / 'kit', tmp_path / 'new'
    for root, marker in ((kit, 'old'), (new, 'new')):
        (root / 'src').mkdir(parents=True)
        (root / 'src' / 'x.py').write_text(marker)
        (root / 'MANIFEST.json').write_text(json.dumps(dict(entries=['MANIFEST.json', 'src', 'wheels'])))
    (kit / 'wheels').mkdir()
    (kit / 'results').mkdir()
    (kit / 'results' / 'kit_results.json').write_text('measured')
    assert build_kit.replace_kit(new, kit) == ['results']
    assert sorted(p.name for p in kit.iterdir()) == ['MANIFEST.json', 'results', 'src']
    assert (kit / 'src' / 'x.py').read_text() == 'new' and (kit / 'results/kit_results.json').read_text() == 'measured'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['kit', 'new']  # no .replaced-* folder left
