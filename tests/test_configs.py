"""Every config under configs/ and benchmarks/classification/ parses, follows the naming rule, and builds its model;
the pretraining recipes carry the paper's numbers."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import simsiam_mm  # noqa: F401
from simsiam_mm.registry import MODELS

REPO = Path(__file__).resolve().parents[1]
# configs/simsiam/ablations/ holds row deltas, merged onto a recipe by tools/analysis/ablations.py: each is built and
# trained in tests/test_ablations.py; the mmdet/mmseg benchmarks (other scopes and _base_ configs) are checked in
# tests/test_benchmarks_downstream.py
SKIPPED = {'_base_', 'ablations', 'mmdetection', 'mmsegmentation'}
CONFIGS = sorted(p for root in ('configs', 'benchmarks') for p in (REPO / root).rglob('*.py')
                 if not SKIPPED & set(p.parts))
SIMSIAM = REPO / 'configs/simsiam'


def build_model(cfg: Config):
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'simsiam_mm')):
        return MODELS.build(cfg.model)


@pytest.mark.parametrize('path', CONFIGS, ids=[str(p.relative_to(REPO)) for p in CONFIGS])
def test_config_parses_and_builds(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'simsiam_mm'
    assert 'simsiam_mm' in cfg.custom_imports['imports']
    # pretraining: {algo}_{backbone}_{N}xb{B}-{schedule}_{data}; evaluation (mmselfsup's benchmark names):
    # {backbone}_{protocol}-{N}xb{B}-{schedule}_{data}
    word = r'[a-z0-9.-]+'  # no '_' inside a field
    assert re.fullmatch(rf'({word}_)?{word}_({word}-)?\d+xb\d+-{word}_{word}', path.stem), path.name
    if 'classification' not in path.parts:  # the linear-evaluation configs are built (once) in test_evaluation.py,
        assert hasattr(build_model(cfg), 'backbone')  # with their frozen-backbone checks


@pytest.mark.parametrize('name, total_batch, lr, wd, epochs', [
    ('simsiam_resnet50_8xb32-coslr-100e_in1k.py', 256, 0.05, 1e-4, 100),
    ('simsiam_resnet50_8xb32-coslr-200e_in1k.py', 256, 0.05, 1e-4, 200),
    ('simsiam_resnet50_8xb64-coslr-100e_in1k.py', 512, 0.1, 1e-4, 100),
    ('simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10.py', 512, 0.06, 5e-4, 800),
])
def test_pretraining_recipes(name, total_batch, lr, wd, epochs):
    cfg = Config.fromfile(str(SIMSIAM / name))
    n_gpus = int(name.split('_')[2].split('xb')[0])
    assert n_gpus * cfg.train_dataloader.batch_size == total_batch == cfg.auto_scale_lr.base_batch_size
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.momentum) == ('SGD', 0.9)
    assert opt.lr == pytest.approx(lr) and opt.weight_decay == pytest.approx(wd)
    assert cfg.optim_wrapper.constructor == 'SimSiamOptimWrapperConstructor'
    assert cfg.train_cfg.max_epochs == epochs
    assert [(s.type, s.T_max) for s in cfg.param_scheduler] == [('CosineAnnealingLR', epochs)]
    assert cfg.model.head.stop_gradient and cfg.model.head.symmetric
    assert cfg.model.backbone.zero_init_residual


def test_imagenet_views_use_the_mocov2_augmentation():
    cfg = Config.fromfile(str(SIMSIAM / 'simsiam_resnet50_8xb32-coslr-100e_in1k.py'))
    multiview = next(t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'MultiView')
    assert multiview.type == 'MultiView' and multiview.num_views == 2
    view = {t.type: t for t in multiview.transforms[0]}
    assert view['RandomResizedCrop'].crop_ratio_range == (0.2, 1.0)
    jitter = view['RandomApply']
    assert jitter.prob == 0.8 and jitter.transforms[0].type == 'ColorJitter'
    assert [jitter.transforms[0][k] for k in ('brightness', 'contrast', 'saturation', 'hue')] == [0.4, 0.4, 0.4, 0.1]
    assert view['RandomGrayscale'].prob == 0.2
    assert view['GaussianBlur'].magnitude_range == (0.1, 2.0) and view['GaussianBlur'].prob == 0.5
    assert view['RandomFlip'].prob == 0.5
