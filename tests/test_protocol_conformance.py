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
def test_lighting_noise_matches_the_rgb_reference_on_the_bgr_pipeline_image():
    """The per-stage ImageNet config's Lighting on the BGR image adds, to each colour, the reference RGB PCA offset
    (eigvec_rgb * alpha * eigval summed per colour; Krizhevsky et al., the ImageNet constants)."""
    from mmpretrain.datasets.transforms import Lighting
    cfg = Config.fromfile(str(IN1K_MHEAD))
    (light, ) = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'Lighting']
    kwargs = {k: v for k, v in light.items() if k not in ('type', '_scope_')}
    eigval = np.array([55.4625, 4.7940, 1.1475])
    eigvec_rgb = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])
    bgr = np.random.default_rng(0).uniform(0, 255, (4, 5, 3)).astype(np.float32)  # float: no rounding hides a swap
    np.random.seed(3)
    out = Lighting(**kwargs).transform(dict(img=bgr.copy()))['img'].astype(np.float64)
    np.random.seed(3)
    alpha = np.random.normal(0, 0.1, 3)
    offset_rgb = (eigvec_rgb * alpha * eigval).sum(axis=1)
    expected_bgr = (bgr[..., ::-1].astype(np.float64) + offset_rgb)[..., ::-1]
    np.testing.assert_allclose(out, expected_bgr, rtol=0, atol=1e-4)
    assert abs(offset_rgb[0] - offset_rgb[2]) > 0.1  # red and blue offsets differ: a swap fails the comparison
