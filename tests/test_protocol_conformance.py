"""Every evaluation-protocol constant pinned to the reference: mmselfsup 0.x, the configs and scripts behind the
published SimSiam tables (multi_pooling.py POOL_PARAMS, tools/benchmarks/classification/svm_voc07/, the places205 /
inaturalist2018 / imagenet multi-head configs). The expected values are written out here, not read from the code."""
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from torch import nn

import simsiam_mm  # noqa: F401
from simsiam_mm.evaluation import MultiStageLinearHead, svm
from simsiam_mm.evaluation.pooling import check_pool_input, stage_pool

from conftest import REPO

CLS = REPO / 'benchmarks/classification'
PLACES = CLS / 'places205/resnet50_multihead-linear-8xb32-steplr-28e_places205.py'
INAT = CLS / 'inaturalist2018/resnet50_multihead-linear-8xb32-steplr-84e_inat18.py'
IN1K_MHEAD = CLS / 'imagenet/resnet50_multihead-linear-8xb32-steplr-90e_in1k.py'

# mmselfsup 0.x mmselfsup/models/utils/multi_pooling.py POOL_PARAMS['resnet50'] (kernel, stride, padding), and the
# side of each ResNet-50 output at 224 px with the pooled side the reference gets (POOL_SIZES).
REFERENCE_WINDOWS = [(10, 10, 4), (16, 8, 0), (13, 5, 0), (8, 3, 0), (6, 1, 0)]
SIDES_224 = [112, 56, 28, 14, 7]
POOLED = [12, 6, 4, 3, 2]


# ------------------------------------------------------------------------------------------------------------ pooling
@pytest.mark.parametrize('stage', [1, 2, 3, 4, 5])
def test_stage_pooling_is_the_reference_avgpool_window(stage):
    """Numerically: our pooling of feature<stage> equals nn.AvgPool2d(reference window) on a known tensor; the
    output has the reference size; it is not adaptive pooling to that size."""
    k, s, p = REFERENCE_WINDOWS[stage - 1]
    side = SIDES_224[stage - 1]
    x = torch.arange(2 * 3 * side * side, dtype=torch.float64).reshape(2, 3, side, side).sin()
    ours = stage_pool(stage)(x)
    torch.testing.assert_close(ours, nn.AvgPool2d(k, s, p)(x), rtol=0, atol=0)
    assert ours.shape == (2, 3, POOLED[stage - 1], POOLED[stage - 1])
    # the first window by hand: rows/cols [-p, k - p) of the zero-padded map, divided by k*k (count_include_pad)
    torch.testing.assert_close(ours[0, 0, 0, 0], x[0, 0, :k - p, :k - p].sum() / (k * k))
    adaptive = nn.AdaptiveAvgPool2d(POOLED[stage - 1])(x)
    assert not torch.allclose(ours, adaptive)  # different windows at every stage, feature5 included


def test_per_stage_heads_use_the_same_windows_and_reference_dims():
    head = MultiStageLinearHead(num_classes=10)
    assert [(m.kernel_size, m.stride, m.padding) for m in head.pools] == REFERENCE_WINDOWS
    assert [fc.in_features for fc in head.fcs] == [9216, 9216, 8192, 9216, 8192]  # POOL_DIMS['resnet50']
    feats = [torch.randn(2, c, n, n) for c, n in zip((64, 256, 512, 1024, 2048), SIDES_224)]
    assert [tuple(s.shape) for s in head(feats)] == [(2, 10)] * 5
    half = [torch.randn(2, c, -(-n // 2), -(-n // 2)) for c, n in zip((64, 256, 512, 1024, 2048), SIDES_224)]
    with pytest.raises(ValueError, match=r'feature1 pools to \(64, 6, 6\) but its fc takes 9216 inputs'):
        head(half)  # 112 px images
    with pytest.raises(ValueError, match='feature5 is 4x4 px, smaller than its reference pooling window'):
        check_pool_input(half[4], stage_pool(5), 'feature5')


# ---------------------------------------------------------------------------------------------------- VOC07 SVM
def test_svm_cost_grid_is_the_reference_one():
    """eval_svm_full.sh costs="1.0,10.0,100.0" + svm_helper.parse_cost_list's 0.5**4 .. 0.5**19, in that order."""
    assert svm.DEFAULT_COSTS == (1.0, 10.0, 100.0, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625, 0.001953125,
                                 0.0009765625, 0.00048828125, 0.000244140625, 0.0001220703125, 6.103515625e-05,
                                 3.0517578125e-05, 1.52587890625e-05, 7.62939453125e-06, 3.814697265625e-06,
                                 1.9073486328125e-06)
    assert svm.LOW_SHOT_K == (1, 2, 4, 8, 16, 32, 64, 96) and svm.LOW_SHOT_DRAWS == 5 and svm.CV_FOLDS == 3


def test_svm_images_are_resized_whole_to_224_without_crop(tmp_path):
    """A 300x500 image with a red left edge and a blue right edge: short side 256, then the whole image to 224x224.
    Both edge stripes survive (a 224 center crop of the 256x427 image would cut them away)."""
    from mmcv import imwrite
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope
    img = np.full((300, 500, 3), 128, np.uint8)
    img[:, :40] = (0, 0, 255)  # BGR red
    img[:, -40:] = (255, 0, 0)  # BGR blue
    imwrite(img, str(tmp_path / 'wide.png'))
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        out = Compose(svm.extract_pipeline())(dict(img_path=str(tmp_path / 'wide.png')))
    x = out['inputs']  # 3xHxW, BGR
    assert tuple(x.shape) == (3, 224, 224)
    assert x[2, :, 0].float().mean() > 200 and x[0, :, 0].float().mean() < 50  # red left column
    assert x[0, :, -1].float().mean() > 200 and x[2, :, -1].float().mean() < 50  # blue right column


def _voc(root: Path, split: str, images: dict[str, list[tuple[str, int]]]) -> None:
    """A VOCdevkit-layout split whose images hold the given (class, difficult) objects."""
    for sub in ('ImageSets/Main', 'Annotations', 'JPEGImages'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    with open(root / 'ImageSets/Main' / f'{split}.txt', 'a') as f:
        f.write(''.join(f'{i}\n' for i in images))
    for img_id, objects in images.items():
        ann = ET.Element('annotation')
        for name, difficult in objects:
            obj = ET.SubElement(ann, 'object')
            ET.SubElement(obj, 'name').text = name
            ET.SubElement(obj, 'difficult').text = str(difficult)
        ET.ElementTree(ann).write(root / 'Annotations' / f'{img_id}.xml')
        (root / 'JPEGImages' / f'{img_id}.jpg').write_bytes(b'')


def test_difficult_only_is_a_negative_in_training_and_ignored_at_test(tmp_path, monkeypatch):
    """train_svm_kfold.py keeps a difficult-only image as a negative (cls_labels[== 0] = -1 only); test_svm.py and the
    low-shot draws drop it."""
    train = {f't{i}': [('cat', 0)] for i in range(4)} | {f'n{i}': [('dog', 0)] for i in range(4)}
    train['hard'] = [('cat', 1), ('dog', 0)]
    _voc(tmp_path, 'trainval', train)
    _voc(tmp_path, 'test', {'a': [('cat', 0)], 'b': [('dog', 0)], 'c': [('cat', 1)]})
    classes = ('cat', 'dog')
    _, train_y = svm.load_voc_split(tmp_path, 'trainval', classes)
    _, test_y = svm.load_voc_split(tmp_path, 'test', classes)
    assert train_y[:, 0].tolist() == [1, 1, 1, 1, -1, -1, -1, -1, 0] and test_y[:, 0].tolist() == [1, -1, 0]
    assert svm.train_labels(train_y[:, 0]).tolist() == [1, 1, 1, 1, -1, -1, -1, -1, -1]

    seen = []
    fit_score = svm._fit_score
    monkeypatch.setattr(svm, '_fit_score', lambda x_tr, y_tr, x_te, cost, seed: seen.append(
        (y_tr.tolist(), len(x_te))) or fit_score(x_tr, y_tr, x_te, cost, seed))
    rng = np.random.default_rng(0)
    res = svm.train_eval_svm(svm.l2_normalize_rows(rng.normal(size=(9, 8))), train_y,
                             svm.l2_normalize_rows(rng.normal(size=(3, 8))), test_y, classes=classes)
    assert not res.skipped
    assert seen[0] == ([1, 1, 1, 1, -1, -1, -1, -1, -1], 2)  # cat: 9 training images, 5 negatives; 2 test images
    assert seen[1] == ([-1, -1, -1, -1, 1, 1, 1, 1, 1], 3)  # dog: nothing difficult
    for draw in range(5):
        sample = svm.low_shot_sample(train_y, 4, np.random.default_rng(draw))
        assert sample[8, 0] == 0  # the difficult-only image is never drawn for cat


def test_cost_is_chosen_by_sklearn_cross_val_score_average_precision():
    """cross_val_ap is cross_val_score(LinearSVC, cv=3, scoring='average_precision'): unshuffled stratified folds,
    sklearn's step-wise AP of the decision function; choose_cost takes the first best cost in the list order."""
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC
    rng = np.random.default_rng(0)
    y = np.where(rng.random(60) < 0.3, 1, -1)
    x = svm.l2_normalize_rows(rng.normal(size=(60, 16)) + 0.4 * (y == 1)[:, None])
    aps = []
    for tr, va in StratifiedKFold(3).split(x, y):
        clf = LinearSVC(C=10.0, class_weight={1: 2, -1: 1}, loss='squared_hinge', penalty='l2', dual=True, tol=1e-4,
                        max_iter=2000, random_state=0).fit(x[tr], y[tr])
        aps.append(average_precision_score(y[va] == 1, clf.decision_function(x[va])))
    assert svm.cross_val_ap(x, y, 10.0) == pytest.approx(np.mean(aps), abs=1e-12)
    table = {1.0: 0.5, 10.0: 0.7, 100.0: 0.7, 0.0625: 0.6}
    import unittest.mock as mock
    with mock.patch.object(svm, 'cross_val_ap', lambda x, y, cost, folds, seed: table[cost]):
        assert svm.choose_cost(x, y, tuple(table)) == 10.0  # a tie goes to the earlier cost, as np.argmax


# ------------------------------------------------------------------------------------------ Places205 / iNat18
@pytest.mark.parametrize('path, epochs, milestones, train_types', [
    (PLACES, 28, [7, 14, 21], [('ResizeEdge', 256), ('CenterCrop', 256), ('RandomCrop', 224), ('RandomFlip', None)]),
    (INAT, 84, [24, 48, 72], [('RandomResizedCrop', 224), ('RandomFlip', None)]),
])
def test_places_and_inat_use_the_reference_multihead_protocol(path, epochs, milestones, train_types):
    cfg = Config.fromfile(str(path))
    assert cfg.model.backbone.type == 'ResNetAllStages' and tuple(cfg.model.backbone.out_indices) == (0, 1, 2, 3, 4)
    assert cfg.model.backbone.frozen_stages == 4
    assert cfg.model.backbone.init_cfg == dict(type='CheckedPretrained', checkpoint='', prefix='backbone.')
    assert cfg.model.head.type == 'MultiStageLinearHead' and cfg.model.head.norm_cfg.affine is False
    assert 'pool_params' not in cfg.model.head  # the head's defaults: the reference windows
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True)
    assert cfg.optim_wrapper.paramwise_cfg == dict(norm_decay_mult=0.)
    assert cfg.train_dataloader.batch_size == 32 and cfg.auto_scale_lr.base_batch_size == 256  # 8 x 32
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.param_scheduler == [dict(type='MultiStepLR', by_epoch=True, milestones=milestones, gamma=0.1)]
    size = {'ResizeEdge': 'scale', 'CenterCrop': 'crop_size', 'RandomCrop': 'crop_size', 'RandomResizedCrop': 'scale'}
    steps = [(t.type, t.get(size.get(t.type, ''))) for t in cfg.train_dataloader.dataset.pipeline
             if t.type not in ('LoadImageFromFile', 'PackInputs')]
    assert steps == train_types
    val = [(t.type, t.get(size.get(t.type, ''))) for t in cfg.val_dataloader.dataset.pipeline]
    assert val[1:3] == [('ResizeEdge', 256), ('CenterCrop', 224)]


def test_avgpool_lars_variants_are_extra_configs_named_so():
    names = sorted(p.name for p in (CLS / 'places205').glob('*.py')) + sorted(
        p.name for p in (CLS / 'inaturalist2018').glob('*.py'))
    assert names == ['resnet50_avgpool-linear-8xb512-lars-coslr-90e_places205.py', PLACES.name,
                     'resnet50_avgpool-linear-8xb512-lars-coslr-90e_inat18.py', INAT.name]


# ------------------------------------------------------------------------------------------------ Lighting noise
# mmselfsup 0.x mmselfsup/datasets/pipelines/transforms.py Lighting._IMAGENET_PCA (pixels in [0, 1], rows R, G, B)
PCA_EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
PCA_EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])


def reference_lighting(img: torch.Tensor, alphastd: float = 0.1) -> torch.Tensor:
    """mmselfsup 0.x ``Lighting.__call__``, written out: ``img`` is the 3xHxW float RGB tensor of ``ToTensor``."""
    alpha = img.new().resize_(3).normal_(0, alphastd)
    rgb = PCA_EIGVEC.type_as(img).clone().mul(alpha.view(1, 3).expand(3, 3)).mul(
        PCA_EIGVAL.view(1, 3).expand(3, 3)).sum(1).squeeze()
    return img.add(rgb.view(3, 1, 1).expand_as(img))


def _config_lighting():
    from mmengine.registry import DefaultScope

    from simsiam_mm.registry import TRANSFORMS
    cfg = Config.fromfile(str(IN1K_MHEAD))
    types = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert 'Lighting' not in types  # mmpretrain's uint8 Lighting truncates and wraps
    (light, ) = [t for t in cfg.train_dataloader.dataset.pipeline if t.type.endswith('FloatLighting')]
    assert types.index(light.type) == len(types) - 2  # the last step before packing, as in the reference
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # the dataset's scope: the type must resolve there
        return TRANSFORMS.build(light)


def test_lighting_noise_is_the_reference_formula_in_float():
    """The per-stage ImageNet config's lighting on the BGR uint8 pipeline image equals mmselfsup 0.x's Lighting on
    the RGB [0, 1] tensor (x 255, channels reversed), for the same generator state; and so do the normalised inputs
    the network sees."""
    light = _config_lighting()
    bgr = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    rgb01 = torch.from_numpy(bgr[..., ::-1].copy()).permute(2, 0, 1).float() / 255  # ToTensor
    red_minus_blue = []
    for seed in range(5):
        torch.manual_seed(seed)
        expected = reference_lighting(rgb01)
        torch.manual_seed(seed)
        out = light.transform(dict(img=bgr.copy()))['img']
        assert out.dtype == np.float32
        ours = torch.from_numpy(out[..., ::-1].copy()).permute(2, 0, 1)
        torch.testing.assert_close(ours / 255, expected, rtol=0, atol=1e-6)
        mean, std = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
        torch.testing.assert_close((ours - 255 * mean) / (255 * std), (expected - mean) / std, rtol=0, atol=1e-4)
        offset = (expected - rgb01)[:, 0, 0]
        red_minus_blue.append(abs(float(offset[0] - offset[2])))
    assert max(red_minus_blue) > 1e-4  # 100x the tolerance: a red-blue channel swap fails the comparison


def test_lighting_keeps_black_black_and_white_white():
    """Black stays near 0 and white near 255 (moved by the noise only, never wrapped to the other end); mmpretrain's
    uint8 Lighting, which the config used before, wraps them."""
    from mmpretrain.datasets.transforms import Lighting
    light = _config_lighting()
    black, white = np.zeros((3, 3, 3), np.uint8), np.full((3, 3, 3), 255, np.uint8)
    wrapped = 0
    for seed in range(10):
        torch.manual_seed(seed)
        out_black = light.transform(dict(img=black.copy()))['img']
        torch.manual_seed(seed)
        out_white = light.transform(dict(img=white.copy()))['img']
        np.testing.assert_allclose(out_white - 255, out_black, rtol=0, atol=1e-4)  # the same offset on both
        assert np.abs(out_black).max() < 30 and (np.abs(out_black) > 0).all()  # noise, not a wrap (max |o| ~ 12)
        np.random.seed(seed)
        old = Lighting(eigval=[55.4625, 4.7940, 1.1475], eigvec=PCA_EIGVEC.flip(0).tolist(), alphastd=0.1,
                       to_rgb=False).transform(dict(img=black.copy()))['img']
        wrapped += int((old > 200).any())
    assert wrapped > 0  # the uint8 version does wrap black around (to ~250) for a negative offset


def test_lighting_refuses_settings_it_cannot_apply():
    from simsiam_mm.datasets import FloatLighting
    from simsiam_mm.errors import ConfigError, DataError
    with pytest.raises(ConfigError, match="channel_order='hsv'"):
        FloatLighting(channel_order='hsv')
    with pytest.raises(ConfigError, match='eigvec 3 rows of 3'):
        FloatLighting(eigvec=[[1, 0, 0]])
    with pytest.raises(DataError, match=r'HxWx3 colour image, got shape \(4, 4\)'):
        FloatLighting().transform(dict(img=np.zeros((4, 4), np.uint8)))
    assert FloatLighting(alphastd=0.).transform(dict(img=np.full((2, 2, 3), 7, np.uint8)))['img'].dtype == np.float32


@pytest.mark.slow  # builds the config's ResNet-50 with 5 heads, ~10 s
def test_per_stage_pipeline_feeds_float_lighting_through_the_data_preprocessor(cifar10_root):
    """Real images through the config's training pipeline, collate and data_preprocessor: the float image with its
    lighting offset reaches the normalisation un-rounded, and one training step gives finite losses."""
    from mmengine.dataset import Compose, default_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from simsiam_mm.registry import MODELS
    cfg = Config.fromfile(str(IN1K_MHEAD))
    cfg.model.backbone.init_cfg = None  # random weights: this checks the data path, not a checkpoint
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)  # as the Runner does
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        model = MODELS.build(cfg.model)
    files = sorted((cifar10_root / 'train' / 'cat').glob('*.jpg'))[:2]
    torch.manual_seed(0)
    samples = [pipeline(dict(img_path=str(f), gt_label=i)) for i, f in enumerate(files)]
    assert all(s['inputs'].dtype == torch.float32 and s['inputs'].shape == (3, 224, 224) for s in samples)
    assert any((s['inputs'] != s['inputs'].round()).any() for s in samples)  # the offset is not rounded away
    batch = model.data_preprocessor(default_collate(samples), True)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    torch.testing.assert_close(batch['inputs'][0], (samples[0]['inputs'].flip(0) - mean) / std)  # BGR -> RGB, norm
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
    log = model.train_step(default_collate(samples), optim)
    assert all(torch.isfinite(v).all() for k, v in log.items() if k.startswith('loss'))
