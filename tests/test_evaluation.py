"""The evaluation suite: kNN (core, hook, tool), linear / per-stage configs, VOC07 (low-shot) SVM (core, tool)."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

import simsiam_mm  # noqa: F401
from simsiam_mm.evaluation import knn as knn_lib
from simsiam_mm.evaluation import svm
from simsiam_mm.registry import MODELS

from conftest import REPO, run_python_tool, tiny_pretrain_cfg

BENCHMARK_CONFIGS = sorted((REPO / 'benchmarks/classification').rglob('*.py'))


def run_tool(tool: str, *args: str) -> subprocess.CompletedProcess:
    """``python tools/analysis/<tool>.py ARGS`` from the repository root, as a user runs it."""
    return run_python_tool([REPO / 'tools/analysis' / f'{tool}.py', *args])  # forked after the import (conftest)


def tool_json(tool: str, out: Path, *args: str) -> dict:
    """Run ``tool`` with ``--out out``: it must succeed; the result it wrote there."""
    proc = run_tool(tool, *args, '--out', str(out))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


# ----------------------------------------------------------------------------------------------------------------- kNN
def test_knn_votes_are_temperature_weighted():
    """Two far neighbours of class 0 against one very close neighbour of class 1: with T=0.07 the close one's
    exp(s/T) weight wins; with a huge T every neighbour weighs ~1 and the majority (class 0) wins."""
    q = torch.tensor([[1.0, 0.0]])
    bank = F.normalize(torch.tensor([[1.0, 0.05], [0.5, 1.0], [0.5, -1.0]]), dim=1)  # sims ~1.0, 0.45, 0.45
    labels = torch.tensor([1, 0, 0])
    assert knn_lib.knn_predict(bank, labels, q, num_classes=2, k=3, temperature=0.07).argmax(1).item() == 1
    assert knn_lib.knn_predict(bank, labels, q, num_classes=2, k=3, temperature=1e6).argmax(1).item() == 0
    # k limits the vote to the nearest ones: k=1 keeps only the class-1 neighbour whatever T
    scores = knn_lib.knn_predict(bank, labels, q, num_classes=2, k=1, temperature=1e6)
    assert scores[0, 0] == 0 and scores[0, 1] > 0


def test_knn_accuracy_on_separable_and_shuffled_labels():
    g = torch.Generator().manual_seed(0)
    centers = F.normalize(torch.randn(10, 64, generator=g), dim=1)
    train_y, test_y = torch.arange(10).repeat(30), torch.arange(10).repeat(5)
    train = F.normalize(centers[train_y] + 0.05 * torch.randn(300, 64, generator=g), dim=1)
    test = F.normalize(centers[test_y] + 0.05 * torch.randn(50, 64, generator=g), dim=1)
    acc = knn_lib.knn_accuracy(train, train_y, test, test_y)
    assert acc['top1'] == 100.0 and acc['top5'] == 100.0
    shuffled = knn_lib.knn_accuracy(train, train_y[torch.randperm(300, generator=g)], test, test_y)
    assert shuffled['top1'] < 40 and shuffled['top5'] >= shuffled['top1']
    # chunking is an implementation detail
    a = knn_lib.knn_predict(train, train_y, test, 10, chunk_size=7)
    b = knn_lib.knn_predict(train, train_y, test, 10, chunk_size=1000)
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match='labels'):
        knn_lib.knn_predict(train, train_y[:5], test, 10)


def test_class_balanced_indices():
    labels = [0] * 50 + [1] * 30 + [2] * 2
    idx = knn_lib.class_balanced_indices(labels, 5, seed=1)
    assert np.bincount(np.asarray(labels)[idx]).tolist() == [5, 5, 2]
    assert idx == knn_lib.class_balanced_indices(labels, 5, seed=1) != knn_lib.class_balanced_indices(labels, 5, 2)
    assert knn_lib.class_balanced_indices(labels, None) == list(range(82))


@pytest.mark.slow
def test_knn_tool_on_real_checkpoint(simsiam_checkpoint, cifar10_root, tmp_path):
    """Bank = queries (same split, same subset) with k=1: every image finds itself, so top-1 must be 100%; on the
    real train -> test split the result is a valid accuracy and the JSON holds it."""
    cfg = str(REPO / 'configs/simsiam/simsiam_resnet18-cifar_1xb32-coslr-1e-2k_cifar10-quick.py')
    common = [cfg, str(simsiam_checkpoint), '--data-root', str(cifar10_root), '--num-workers', '0',
              '--batch-size', '64']
    self_match = tool_json('knn_eval', tmp_path / 'self.json', *common, '--train-prefix', 'test',
                           '--val-prefix', 'test', '--num-per-class-train', '3', '--num-per-class-val', '3', '--k', '1')
    assert self_match['top1'] == 100.0 and self_match['num_val'] == 30
    proc = run_tool('knn_eval', *common, '--num-per-class-train', '6', '--num-per-class-val', '3',
                    '--out', str(tmp_path / 'knn.json'))
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads((tmp_path / 'knn.json').read_text())
    assert f'top1 {res["top1"]:.2f}  top5 {res["top5"]:.2f}' in proc.stdout  # the JSON holds what was printed
    assert 0 <= res['top1'] <= res['top5'] <= 100 and (res['num_train'], res['num_val']) == (60, 30)
    bad = run_tool('knn_eval', cfg, str(simsiam_checkpoint), '--data-root', str(cifar10_root), '--val-prefix', 'nope')
    assert bad.returncode != 0 and f'knn_eval.py: error: {cifar10_root / "nope"}: split folder' in bad.stderr
    assert 'Traceback' not in bad.stderr


@pytest.mark.slow  # trains with the Runner
def test_knn_hook_runs_during_pretraining(cifar10_root, tmp_path):
    """The hook evaluates before training and every 2 iterations, logs knn/top1 to the vis backend, and leaves the
    model in train mode."""
    cfg = tiny_pretrain_cfg(cifar10_root, tmp_path, backbone='tiny', iters=2, batch_size=4, num_images=8)  # the hook
    data = dict(type='CustomDataset', data_root=str(cifar10_root),
                pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    cfg.custom_hooks = [dict(type='KNNEvalHook', interval=2, by_epoch=False, before_train=True,
                             train_dataset=dict(data, data_prefix='train'), val_dataset=dict(data, data_prefix='test'),
                             num_per_class_train=4, num_per_class_val=2)]
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = next(h for h in runner.hooks if type(h).__name__ == 'KNNEvalHook')
    assert [h['iter'] for h in hook.history] == [0, 2]
    assert all(0 <= h['top1'] <= h['top5'] <= 100 for h in hook.history)
    assert runner.model.training
    scalars = [json.loads(line) for line in
               next(Path(cfg.work_dir).rglob('scalars.json')).read_text().splitlines()]
    assert [s['step'] for s in scalars if 'knn/top1' in s] == [0, 2]


def test_knn_hook_at_given_iterations():
    """``at``: exactly these iterations (evenly spread over a budget ``interval`` does not divide), iteration-based."""
    from types import SimpleNamespace

    from simsiam_mm.evaluation import KNNEvalHook
    hook = KNNEvalHook({}, {}, by_epoch=False, at=[3, 7])
    done = []
    hook.evaluate = lambda runner, step: done.append(step)
    for i in range(10):
        hook.after_train_iter(SimpleNamespace(iter=i), i)
    assert done == [3, 7]
    with pytest.raises(ValueError, match='by_epoch=False'):
        KNNEvalHook({}, {}, at=[3])


# ------------------------------------------------------------------------------------------------------------ configs
def build_from_config(path: Path, **options):
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(str(path))
    if options:
        cfg.merge_from_dict(options)
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg, MODELS.build(model_cfg)


@pytest.mark.parametrize('path', BENCHMARK_CONFIGS, ids=lambda p: p.stem)
def test_benchmark_config_parses_and_builds(path):
    """Every linear-evaluation config builds; its backbone is frozen and reads the SimSiam checkpoint's 'backbone.*'
    keys; only the head trains."""
    cfg, model = build_from_config(path)
    assert cfg.model.backbone.init_cfg == dict(type='CheckedPretrained', checkpoint='', prefix='backbone.')
    model.train()
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(not m.training for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert all(p.requires_grad for p in model.head.parameters())
    for split in ('train_dataloader', 'val_dataloader'):
        assert cfg[split].dataset.data_root.startswith('data/')


def test_linear_protocols_match_the_references():
    root = REPO / 'benchmarks/classification'
    imagenet = Config.fromfile(str(root / 'imagenet/resnet50_linear-8xb512-lars-coslr-90e_in1k.py'))
    assert imagenet.optim_wrapper.optimizer == dict(type='LARS', lr=1.6, momentum=0.9, weight_decay=0.)
    assert imagenet.train_dataloader.batch_size * 8 == 4096 == imagenet.auto_scale_lr.base_batch_size
    assert imagenet.train_cfg.max_epochs == 90 and imagenet.param_scheduler[0].type == 'CosineAnnealingLR'
    places = Config.fromfile(str(root / 'places205/resnet50_avgpool-linear-8xb512-lars-coslr-90e_places205.py'))
    inat = Config.fromfile(str(root / 'inaturalist2018/resnet50_avgpool-linear-8xb512-lars-coslr-90e_inat18.py'))
    assert (places.model.head.num_classes, inat.model.head.num_classes) == (205, 8142)
    assert places.train_dataloader.dataset.type == 'Places205'
    assert inat.train_dataloader.dataset.ann_file == 'meta/train.txt'
    # the reference (per-stage) Places205 / iNat18 protocols: tests/test_protocol_conformance.py


@pytest.mark.slow  # the session pretraining checkpoint
def test_cifar_linear_loads_simsiam_checkpoint_with_one_option(simsiam_checkpoint):
    _, model = build_from_config(
        REPO / 'benchmarks/classification/cifar10/resnet18-cifar_linear-1xb512-coslr-100e_cifar10.py',
        **{'model.backbone.init_cfg.checkpoint': str(simsiam_checkpoint)})
    model.init_weights()
    state = torch.load(simsiam_checkpoint, map_location='cpu', weights_only=False)['state_dict']
    for name, value in model.backbone.state_dict().items():
        if not name.endswith('num_batches_tracked'):  # a counter CheckedPretrained does not copy; BN is frozen
            torch.testing.assert_close(value, state[f'backbone.{name}'], msg=name)


# -------------------------------------------------------------------------------------------------- per-stage linear
@pytest.mark.slow  # builds and loads a ResNet-50, ~7 s
def test_multihead_config_loads_backbone_and_pools_each_stage_to_about_9k(tmp_path):
    """ResNetAllStages has the torchvision/mmpretrain key names (a SimSiam checkpoint loads with prefix
    'backbone.'), outputs stem + res2..res5, and the heads see 9216/9216/8192/9216/8192 dims at 224 px."""
    from mmpretrain.models.backbones import ResNet
    torch.manual_seed(0)
    ref = ResNet(depth=50, norm_cfg=dict(type='BN'))
    ckpt = tmp_path / 'simsiam_like.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in ref.state_dict().items()}}, ckpt)
    path = REPO / 'benchmarks/classification/imagenet/resnet50_multihead-linear-8xb32-steplr-90e_in1k.py'
    _, model = build_from_config(path, **{'model.backbone.init_cfg.checkpoint': str(ckpt)})
    model.init_weights()
    for name, value in ref.state_dict().items():
        torch.testing.assert_close(model.backbone.state_dict()[name], value, msg=name)
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 224, 224))
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 112, 112), (256, 56, 56), (512, 28, 28), (1024, 14, 14),
                                                    (2048, 7, 7)]
    assert [fc.in_features for fc in model.head.fcs] == [9216, 9216, 8192, 9216, 8192]


def test_multihead_trains_only_heads_and_reports_each_stage():
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.structures import DataSample

    from simsiam_mm.evaluation.metrics import MultiHeadAccuracy
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='ResNetAllStages', depth=18, out_indices=(0, 2, 4), frozen_stages=4, norm_eval=True),
        neck=None,
        head=dict(type='MultiStageLinearHead', in_channels=(64, 128, 512), num_classes=3,
                  pool_params=[dict(kernel_size=8, stride=8), dict(kernel_size=4, stride=4), dict(kernel_size=2)],
                  feat_sizes=(32, 8, 2), norm_cfg=dict(type='BN', affine=False))))
    model.init_weights()
    model.train()
    samples = [DataSample().set_gt_label(i % 3) for i in range(6)]
    batch = dict(inputs=torch.randint(0, 255, (6, 3, 64, 64), dtype=torch.uint8), data_samples=samples)
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    log = model.train_step(batch, optim)
    assert {'loss_feature1', 'loss_feature2', 'loss_feature3', 'acc_feature1'} <= set(log)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith('backbone.'))  # BN stats too
    assert all(not torch.equal(before[k], after[k]) for k in before if k.startswith('head.fcs'))

    model.eval()
    preds = model.val_step(dict(inputs=batch['inputs'], data_samples=[DataSample().set_gt_label(i % 3)
                                                                      for i in range(6)]))
    assert preds[0].multi_pred_score.shape == (3, 3) and preds[0].multi_head_names[-1] == 'feature3'
    metric = MultiHeadAccuracy(topk=(1, 3))
    metric.process(None, [p.to_dict() for p in preds])
    res = metric.compute_metrics(metric.results)
    assert set(res) == {f'feature{i}_top{k}' for i in (1, 2, 3) for k in (1, 3)}
    assert all(res[f'feature{i}_top3'] == 100.0 for i in (1, 2, 3))
    with pytest.raises(ValueError, match='out_indices'):
        MODELS.build(dict(type='ResNetAllStages', depth=18, out_indices=(5, )))


# --------------------------------------------------------------------------------------------------------- VOC07 SVM
def test_voc_ap_reference_values():
    assert svm.voc_ap(np.array([3., 2., 1.]), np.array([1, 1, -1])) == 1.0
    assert svm.voc_ap(np.array([3., 2., 1.]), np.array([-1, -1, 1])) == pytest.approx(1 / 3)
    assert svm.voc_ap(np.array([.9, .8, .1]), np.array([1, -1, 1])) == pytest.approx(5 / 6)  # (1 + 2/3) / 2
    assert np.isnan(svm.voc_ap(np.array([1., 2.]), np.array([-1, -1])))


def toy_voc(n: int, seed: int, dims: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Multi-label toy data: each image holds 1-2 classes; its feature is the sum of their centres plus noise."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(20, dims))
    y = -np.ones((n, 20), dtype=np.int8)
    for i in range(n):
        y[i, rng.choice(20, size=rng.integers(1, 3), replace=False)] = 1
    y[rng.random((n, 20)) < 0.02] = 0  # a few 'difficult' entries, ignored
    x = (y == 1) @ centres + 0.3 * rng.normal(size=(n, dims))
    return svm.l2_normalize_rows(x), y


def test_svm_learns_separable_classes_and_not_shuffled_ones():
    train_x, train_y = toy_voc(300, 0)
    test_x, test_y = toy_voc(150, 1)
    res = svm.train_eval_svm(train_x, train_y, test_x, test_y, costs=(0.1, 1.0), folds=3)
    assert not res.skipped and res.mAP > 90
    assert set(res.cost.values()) <= {0.1, 1.0}
    shuffled = svm.train_eval_svm(train_x, train_y[np.random.default_rng(0).permutation(300)], test_x, test_y,
                                  costs=(1.0, ), folds=2)
    assert shuffled.mAP < 40


def test_low_shot_sampling_and_svm():
    train_x, train_y = toy_voc(400, 0)
    test_x, test_y = toy_voc(150, 1)
    sample = svm.low_shot_sample(train_y, 2, np.random.default_rng(0))
    assert ((sample == 1).sum(0) == 2).all() and ((sample == -1).sum(0) == 19 * 2).all()
    assert ((sample != 0) <= (train_y != 0)).all() and (sample[sample != 0] == train_y[sample != 0]).all()
    res = svm.low_shot_svm(train_x, train_y, test_x, test_y, ks=(1, 8), num_draws=2, costs=(1.0, ))
    assert set(res) == {1, 8} and res[8]['mAP'] > res[1]['mAP'] > 20 and res[8]['cost'] == 1.0


def test_load_voc_split_reads_the_real_sample(downstream_root):
    paths, labels = svm.load_voc_split(downstream_root / 'VOCdevkit/VOC2007', 'trainval')
    assert [p.name for p in paths] == ['000001.jpg']
    positives = [svm.VOC_CLASSES[c] for c in np.flatnonzero(labels[0] == 1)]
    assert positives == ['dog', 'person'] and (labels[0] != 0).all()
    with pytest.raises(FileNotFoundError, match='val.txt'):
        svm.load_voc_split(downstream_root / 'VOCdevkit/VOC2007', 'val')


@pytest.mark.slow
def test_voc_svm_tool_end_to_end_on_real_sample(downstream_root, tmp_path):
    """The real one-image VOC2007 sample: features of the stem (feature1, 64x12x12 = 9216-d at the protocol's
    224x224) are extracted, and every class is reported as skipped with its reason instead of a crash or a made-up
    number."""
    voc = str(downstream_root / 'VOCdevkit/VOC2007')
    r50 = str(REPO / 'configs/simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py')
    proc = run_tool('voc_svm', r50, 'random', '--voc-root', voc, '--stage', '1', '--num-workers', '0',
                    '--low-shot', '--low-shot-k', '1', '2', '--draws', '2', '--out', str(tmp_path / 'svm.json'))
    assert proc.returncode == 0, proc.stderr[-4000:]
    res, out = json.loads((tmp_path / 'svm.json').read_text()), proc.stdout
    assert res['dims'] == 9216 and np.isnan(res['mAP']) and len(res['skipped']) == 20
    assert 'dog: skipped: trainval has 1 positive and 0 negative' in out
    assert 'aeroplane: skipped: trainval has 0 positive and 1 negative' in out
    assert 'mAP (feature1): n/a' in out and 'k=  1: n/a' in out
    assert res['stage'] == 1
    quick = str(REPO / 'configs/simsiam/simsiam_resnet18-cifar_1xb32-coslr-1e-2k_cifar10-quick.py')
    bad = run_tool('voc_svm', quick, 'random', '--voc-root', voc, '--stage', '1')
    assert bad.returncode != 0 and 'voc_svm.py: error: --stage 1' in bad.stderr
    assert 'needs a ResNet backbone' in bad.stderr and 'Traceback' not in bad.stderr
