"""The short CPU recipe: in-memory images (CachedDataset), views made batched in the data preprocessor, and the
learning-evidence tool that measures it against both random-init baselines."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.datasets.transforms import RandomResizedCrop
from scipy.stats import ks_2samp

from simsiam_mm.datasets import CachedDataset
from simsiam_mm.errors import DataError
from simsiam_mm.models import BatchAugDataPreprocessor
from simsiam_mm.models.batch_augment import random_resized_crop_boxes, resized_crops
from simsiam_mm.results import read_series, series_file

from conftest import REPO, require_data

RECIPES = sorted((REPO / 'configs/simsiam').glob('*-cpu.py'))
N = 4000


@pytest.mark.parametrize('height,width', [(64, 64), (180, 240), (100, 30)])
def test_crop_boxes_follow_mmpretrain_distribution(height, width):
    """Area fraction and aspect ratio of the boxes: KS distance to mmpretrain's RandomResizedCrop draws < 0.06."""
    torch.manual_seed(0)
    np.random.seed(0)
    boxes = random_resized_crop_boxes(N, height, width, (0.2, 1.0), (3 / 4, 4 / 3)).double().numpy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= width).all() and (boxes[:, 3] <= height).all()
    ref = RandomResizedCrop(scale=8, crop_ratio_range=(0.2, 1.0))
    img = np.zeros((height, width, 3), np.uint8)
    params = np.array([ref.rand_crop_params(img) for _ in range(N)], dtype=float)  # y, x, h, w
    for ours, theirs, what in ((w * h, params[:, 2] * params[:, 3], 'area'), (w / h, params[:, 3] / params[:, 2],
                                                                               'aspect'),
                               (boxes[:, 0] / width, params[:, 1] / width, 'x offset')):
        assert ks_2samp(ours, theirs).statistic < 0.06, what


def test_crop_box_fallback_is_mmpretrain_central_crop():
    """No try fits (scale above 1): the central crop with the ratio clamped, as mmpretrain's fallback."""
    boxes = random_resized_crop_boxes(5, 100, 30, (2.0, 3.0), (3 / 4, 4 / 3))
    ref = RandomResizedCrop(scale=8, crop_ratio_range=(2.0, 3.0))
    y, x, h, w = ref.rand_crop_params(np.zeros((100, 30, 3), np.uint8))
    assert boxes.tolist() == [[x, y, x + w, y + h]] * 5


def test_resized_crops_filter_a_downscale_and_copy_an_identity():
    img = torch.rand(3, 3, 64, 64)
    whole = torch.tensor([[0., 0., 64., 64.]] * 3)
    torch.testing.assert_close(resized_crops(img, whole, 32), F.avg_pool2d(img, 2))  # 2x2 mean: filtered
    part = torch.tensor([[8., 4., 40., 36.]] * 3)
    torch.testing.assert_close(resized_crops(img, part, 32), img[:, :, 4:36, 8:40])


def test_preprocessor_makes_flipped_views_at_the_flip_rate():
    pre = BatchAugDataPreprocessor(mean=[0.] * 3, std=[1.] * 3, crop_size=16, crop_scale=(1.0, 1.0),
                                   crop_ratio=(1.0, 1.0), jitter_prob=0.0, gray_prob=0.0, blur_prob=0.0)
    ramp = torch.arange(16.).repeat(2000, 3, 16, 1)  # x ramp: a flipped view runs backwards
    pre.generator.manual_seed(0)
    views = pre(dict(inputs=ramp, data_samples=None), training=True)['inputs']
    assert len(views) == 2 and views[0].shape == (2000, 3, 16, 16)
    flipped = (views[0][:, 0, 0, 0] > views[0][:, 0, 0, -1]).float()
    assert abs(flipped.mean().item() - 0.5) < 0.05
    assert not torch.equal(views[0], views[1])
    out = pre(dict(inputs=ramp[:2], data_samples=None), training=False)['inputs']
    assert out.shape == (2, 3, 16, 16)  # evaluation: whole images, unchanged size


class Counting(torch.utils.data.Dataset):
    def __init__(self, shapes):
        self.shapes, self.calls = shapes, 0

    def __len__(self):
        return len(self.shapes)

    def __getitem__(self, i):
        self.calls += 1
        return dict(inputs=torch.full(self.shapes[i], i, dtype=torch.uint8), data_samples=None)


def test_cached_dataset_runs_the_pipeline_once():
    inner = Counting([(3, 4, 4)] * 5)
    cached = CachedDataset(inner)
    first = [cached[i]['inputs'][0, 0, 0].item() for i in range(5)]
    again = [cached[i]['inputs'][0, 0, 0].item() for i in range(5)]
    assert first == again == [0, 1, 2, 3, 4] and inner.calls == 5 and len(cached) == 5


def test_cached_dataset_names_the_size_mismatch():
    with pytest.raises(DataError, match=r'item 2.*one image size.*CenterCrop'):
        CachedDataset(Counting([(3, 4, 4), (3, 4, 4), (3, 5, 4)]))[0]


@pytest.mark.slow  # trains 2 iterations on both datasets: ~10 s per config
@pytest.mark.parametrize('config', RECIPES, ids=lambda p: p.name)
def test_recipe_config_trains_on_both_datasets(config, tmp_path, cifar10_root):
    """Each recipe runs through SimSiamRunner (what tools/train.py runs) on CIFAR-10 and on tinyimagenet10-dev."""
    from simsiam_mm.engine.runner import SimSiamRunner
    tiny = require_data(cifar10_root.parent / 'tinyimagenet10-dev', 'tinyimagenet10-dev')
    for name, root in (('cifar', cifar10_root), ('tiny', tiny)):
        cfg = Config.fromfile(str(config))
        assert {'knn_pipeline', 'image_size', 'cache_size'} <= set(cfg.keys())
        inner = cfg.train_dataloader.dataset.dataset
        inner.update(data_root=str(root), indices=64)
        cfg.train_dataloader.batch_size = 16
        cfg.train_cfg.max_iters = 2
        cfg.work_dir = str(tmp_path / name)
        cfg.default_hooks.checkpoint.interval = 2
        cfg.log_level = 'WARNING'
        runner = SimSiamRunner.from_cfg(cfg)
        runner.train()
        assert (tmp_path / name / 'iter_2.pth').is_file()
        assert math.isfinite(runner.message_hub.get_scalar('train/loss').current())


@pytest.mark.slow
def test_learning_evidence_measures_both_baselines(tmp_path, cifar10_root):
    """The tool's table, JSON and plot from a 6-iteration run with held-out train images as queries."""
    import importlib.util
    tiny = require_data(cifar10_root.parent / 'tinyimagenet10-dev', 'tinyimagenet10-dev')
    spec = importlib.util.spec_from_file_location('learning_evidence', REPO / 'tools/analysis/learning_evidence.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    results = tool.main([str(RECIPES[0]), '--data-root', str(tiny), '--out-dir', str(tmp_path), '--name', 'run',
                         '--work-dir', str(tmp_path / 'wd'), '--evals', '2', '--holdout-per-class', '5',
                         '--cfg-options', 'train_cfg.max_iters=6', 'train_dataloader.batch_size=8'])
    saved = json.loads((tmp_path / 'run.json').read_text())
    assert set(saved['baselines']) == {'init_weights', 'pytorch_default'}
    assert saved['baseline_top1'] == max(b['top1'] for b in saved['baselines'].values())
    assert [h['iter'] for h in saved['knn']] == [3, 6]
    assert saved['data']['train']['images'] == 5000 and saved['data']['train']['bank_images'] == 4950
    assert saved['data']['val']['images'] == 50 and saved['data']['train']['classes'] == 10
    assert saved['data']['train']['sizes_in_sample'] == {'64x64': saved['data']['train']['sampled_files']}
    assert results['gain'] == pytest.approx(saved['knn'][-1]['top1'] - saved['baseline_top1'])
    assert (tmp_path / 'run.png').stat().st_size > 10_000
    assert 'Gain over the strongest random init' in (tmp_path / 'run.md').read_text()
    series = read_series(series_file(tmp_path / 'run.json', saved['series']))  # the per-iteration CSV beside it
    assert saved['figure'] == 'learning_evidence' and 'iters' not in saved
    assert series['iter'] == list(range(1, 7)) and len(series['loss']) == 6
    assert [h['minutes'] for h in saved['knn']] == pytest.approx([series['train_seconds'][i - 1] / 60 for i in (3, 6)],
                                                                abs=1e-4)


@pytest.mark.slow
def test_speed_benchmark_times_every_variant(tmp_path, cifar10_root):
    """short_recipe_speed.py: the five variants from the per-sample pipeline to the recipe, in one table."""
    import importlib.util
    tiny = require_data(cifar10_root.parent / 'tinyimagenet10-dev', 'tinyimagenet10-dev')
    spec = importlib.util.spec_from_file_location('short_recipe_speed', REPO / 'tools/analysis/short_recipe_speed.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'speed.json'
    result = tool.main([str(RECIPES[1]), '--data-root', str(tiny), '--iters', '1', '--warmup', '0',
                        '--out', str(out)])
    assert list(result['rows']) == ['pipeline, 1 worker, 1 thread', 'pipeline, 1 worker, 2 threads',
                                    'cached, batched, 2 threads', '+ channels_last', '+ bf16 autocast']
    assert [r['threads'] for r in result['rows'].values()] == [1, 2, 2, 2, 2]
    assert all(r['median_s'] > 0 for r in result['rows'].values())
    assert json.loads(out.read_text())['table'].count('\n| ') == 6  # header + five rows


def test_per_sample_views_are_the_reference_config_pipeline():
    """The batched augmentation's per-sample equivalent (what short_recipe_speed.py times it against) is the view
    pipeline the CIFAR-10 reference config writes: the MoCo v2 augmentation without blur, at 32 px."""
    reference = Config.fromfile(str(REPO / 'configs/_base_/datasets/cifar10_simsiam.py')).view_pipeline
    pre = BatchAugDataPreprocessor(crop_size=32, blur_prob=0.0, mean=[0.0] * 3, std=[1.0] * 3)
    ours = pre.per_sample_views()
    assert [t['type'] for t in ours] == [t['type'] for t in reference]
    for mine, ref in zip(ours, reference):
        assert {k: v for k, v in mine.items() if k != 'aspect_ratio_range'} == ref, (mine, ref)
    assert ours[0]['aspect_ratio_range'] == (3 / 4, 4 / 3)  # mmpretrain's default, stated
    blur = BatchAugDataPreprocessor(crop_size=224, mean=[0.0] * 3, std=[1.0] * 3).per_sample_views()
    assert blur[3] == dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5)
