"""Downstream benchmarks: the configs follow the MoCo/mmselfsup protocol and build; the runner initialises the model
from a real SimSiam checkpoint (and refuses checkpoints it cannot use); each benchmark trains 2 iterations on the
real samples under ``downstream_root`` and runs its real evaluator (VOC mAP, COCO bbox+segm, mIoU)."""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

from simsiam_mm.apis.downstream import set_data_root, set_pretrained, smoke_cfg
from simsiam_mm.checkpoint import check_weights
from simsiam_mm.errors import CheckpointError

from conftest import REPO

DET = REPO / 'benchmarks/mmdetection'
SEG = REPO / 'benchmarks/mmsegmentation'
VOC0712_C4 = DET / 'voc0712/faster-rcnn_r50-c4_8xb2-ms-24k_voc0712.py'
COCO_FPN = DET / 'coco/mask-rcnn_r50-fpn_8xb2-ms-1x_coco.py'
COCO_C4_1X = DET / 'coco/mask-rcnn_r50-c4_8xb2-ms-1x_coco.py'
COCO_C4_2X = DET / 'coco/mask-rcnn_r50-c4_8xb2-ms-2x_coco.py'
VOC12AUG_FCN = SEG / 'voc12aug/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py'
CITYSCAPES_FCN = SEG / 'cityscapes/fcn_r50-d8_4xb2-40k_cityscapes-769x769.py'
C4_CONFIGS = [VOC0712_C4, COCO_C4_1X, COCO_C4_2X]
ALL_CONFIGS = [VOC0712_C4, COCO_FPN, COCO_C4_1X, COCO_C4_2X, VOC12AUG_FCN, CITYSCAPES_FCN]


RUNNER = REPO / 'tools/benchmarks/train_downstream.py'


def train_downstream(*args: str) -> subprocess.CompletedProcess:
    """``python tools/benchmarks/train_downstream.py ARGS``, with tests/ importable (for :mod:`snapshot_hook`)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / 'tests'), os.environ.get('PYTHONPATH', '')]))
    return subprocess.run([sys.executable, str(RUNNER), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)


def _models_registry(cfg: Config):
    init_default_scope(cfg.default_scope)
    if cfg.default_scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    return MODELS


# ----------------------------------------------------------------------------------------------------------------
# configs: the protocol, and every config builds its model
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.full_stack
@pytest.mark.parametrize('config', ALL_CONFIGS, ids=lambda p: p.stem)
def test_config_follows_protocol_and_builds(config: Path) -> None:
    cfg = Config.fromfile(str(config))
    backbone = cfg.model.backbone
    assert backbone.norm_cfg.type == 'SyncBN' and backbone.norm_cfg.get('requires_grad', True)
    assert backbone.norm_eval is False and backbone.style == 'pytorch'
    assert backbone.get('frozen_stages', -1) == -1
    assert backbone.type == 'ResNet' and backbone.depth == 50  # plain 7x7 stem, as pretrained (not ResNetV1c)
    assert backbone.init_cfg == dict(type='CheckedPretrained', checkpoint=cfg.pretrained, prefix='backbone.')
    assert not cfg.model.get('pretrained')
    assert cfg.custom_imports.imports == ['simsiam_mm']  # ResLayerExtraNorm, weights_only-safe checkpoint loading

    targets = set_pretrained(cfg.model, 'simsiam.pth')
    expected = ['backbone', 'roi_head.shared_head'] if config in C4_CONFIGS else ['backbone']
    assert targets == expected

    model = _models_registry(cfg).build(cfg.model)
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.backbone.modules())
    assert not any(p.requires_grad is False for p in model.backbone.parameters())  # nothing frozen
    if config in C4_CONFIGS:  # res5 as RoI head, same parameter names as the backbone's layer4, plus the extra norm
        head = model.roi_head.shared_head
        assert type(head).__name__ == 'ResLayerExtraNorm' and isinstance(head.norm, nn.SyncBatchNorm)
        assert head.norm_eval is False
        names = {k for k in head.state_dict() if not k.startswith('norm.')}
        assert names and all(k.startswith('layer4.') for k in names)
    if cfg.default_scope == 'mmdet':  # RGB input normalised as in pretraining, not caffe BGR
        assert cfg.model.data_preprocessor.bgr_to_rgb is True
        assert cfg.model.data_preprocessor.std == [58.395, 57.12, 57.375]


@pytest.mark.full_stack
def test_schedules_and_evaluation_follow_the_protocol() -> None:
    voc = Config.fromfile(str(VOC0712_C4))
    assert voc.train_cfg.max_iters == 24000
    steps = [s for s in voc.param_scheduler if s.type == 'MultiStepLR'][0]
    warmup = [s for s in voc.param_scheduler if s.type == 'LinearLR'][0]
    assert steps.milestones == [18000, 22000] and warmup.end == 100
    train_scales = voc.train_dataloader.dataset.datasets[0].pipeline[2].scales
    assert [min(s) for s in train_scales] == list(range(480, 801, 32))
    assert voc.val_evaluator.eval_mode == '11points'
    assert {0.5, 0.75} <= {round(t, 2) for t in voc.val_evaluator.iou_thrs}
    assert [t.scale for t in voc.test_dataloader.dataset.pipeline if t.type == 'Resize'] == [(1333, 800)]

    # mmselfsup 0.x configs/benchmarks/mmdetection/_base_/models/faster_rcnn_r50_c4.py: allowed_border=0 (mmdet 3.3's
    # C4 base: -1); the COCO C4 base of mmdet 3.3 already has 0, as 0.x's mask_rcnn_r50_c4.py
    assert voc.model.train_cfg.rpn.allowed_border == 0
    assert Config.fromfile(str(COCO_C4_1X)).model.train_cfg.rpn.allowed_border == 0

    # mmselfsup 0.x _base_/schedules/schedule_1x.py / schedule_2x.py: linear warm-up over 1000 iterations from lr
    # x0.001 (mmdet 3.3's schedule_1x: 500), then x0.1 at epochs 8, 11 (1x) or 16, 22 (2x)
    for path, epochs, milestones in ((COCO_C4_1X, 12, [8, 11]), (COCO_FPN, 12, [8, 11]), (COCO_C4_2X, 24, [16, 22])):
        cfg = Config.fromfile(str(path))
        assert [(s.type, s.by_epoch, s.begin, s.end, s.get('start_factor'), s.get('milestones'))
                for s in cfg.param_scheduler] == [('LinearLR', False, 0, 1000, 0.001, None),
                                                  ('MultiStepLR', True, 0, epochs, None, milestones)], path.name
        assert cfg.train_cfg.max_epochs == epochs

    fpn = Config.fromfile(str(COCO_FPN))
    assert fpn.model.neck.norm_cfg.type == 'SyncBN'
    assert fpn.model.roi_head.bbox_head.norm_cfg.type == 'SyncBN'
    assert fpn.model.roi_head.mask_head.norm_cfg.type == 'SyncBN'
    assert [min(s) for s in fpn.train_dataloader.dataset.pipeline[2].scales] == list(range(640, 801, 32))
    assert fpn.train_cfg.max_epochs == 12
    assert Config.fromfile(str(COCO_C4_2X)).train_cfg.max_epochs == 24

    assert Config.fromfile(str(VOC12AUG_FCN)).train_cfg.max_iters == 20000
    city = Config.fromfile(str(CITYSCAPES_FCN))
    assert city.train_cfg.max_iters == 40000
    assert city.model.test_cfg.mode == 'slide' and city.model.test_cfg.crop_size == (769, 769)


def test_detection_configs_inherit_one_moco_block() -> None:
    """MoCo's overrides (SyncBN, norm_eval, frozen_stages, style, the checked init, RGB input, the res5 head) are
    written once, in benchmarks/mmdetection/_base_/moco_overrides.py, and every detection config takes them from
    there (text only: runs without mmdet; the merged values are checked by test_config_follows_protocol_and_builds)."""
    configs = sorted(p for p in DET.rglob('*.py') if '_base_' not in p.parts)
    assert len(configs) == 4
    block = DET / '_base_/moco_overrides.py'
    assert 'SyncBN' in block.read_text() and 'ResLayerExtraNorm' in block.read_text()
    for config in configs:
        text = '\n'.join(line.split('#')[0] for line in config.read_text().splitlines())  # code, not comments
        for repeated in ('SyncBN', 'norm_eval', 'frozen_stages', 'CheckedPretrained', 'ResLayerExtraNorm', '58.395'):
            assert repeated not in text, f'{config.name} repeats {repeated!r}: take it from {block.name}'
        assert "_base_/moco_overrides.py'" in text or "_base_ = './mask-rcnn_r50-c4_8xb2-ms-1x_coco.py'" in text


def test_voc_summary_names_the_figure_comparable_to_the_published_ap50() -> None:
    """mmdet's VOCMetric calls the mean over IoU 0.50:0.95 `mAP`; the published VOC07+12 figure is AP50."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('train_downstream', RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.format_table({'pascal_voc/mAP': 0.51, 'pascal_voc/AP50': 0.8, 'pascal_voc/AP75': 0.56}, 'VOC')
    assert '| pascal_voc/AP50 | 0.8000 |' in table
    assert 'pascal_voc/AP50: the figure comparable to the published VOC07+12 AP50' in table.splitlines()
    assert 'pascal_voc/mAP: AP, the mean over IoU 0.50:0.05:0.95 (not AP50)' in table.splitlines()
    assert 'published' not in module.format_table({'mIoU': 48.0}, 'VOC12aug')  # only where the VOC keys are


# ----------------------------------------------------------------------------------------------------------------
# checkpoint reading and the load check
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.full_stack  # the Cityscapes config's _base_ is mmseg's
def test_checkpoint_without_backbone_fails_before_training(downstream_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / 'encoder_only.pth'
    torch.save({'state_dict': {'module.encoder.conv1.weight': torch.zeros(1)}}, bad)
    # real data, so the run gets as far as initialising the backbone from the file (CheckedPretrained refuses it)
    voc12 = downstream_root / 'voc_seg_rock/VOCdevkit/VOC2012'
    proc = train_downstream(str(VOC12AUG_FCN), str(bad), '--work-dir', str(tmp_path / 'wd'), '--smoke',
                            '--smoke-size', '64', '--data-root', str(voc12))
    assert proc.returncode != 0 and 'train_downstream.py: error: ' in proc.stderr and 'Traceback' not in proc.stderr
    assert re.search('encoder_only.pth.*backbone.*official_to_simsiam_mm.py', proc.stderr)
    assert not (tmp_path / 'wd.json').exists()
    assert not list((tmp_path / 'wd').rglob('*.pth'))  # no derived copy of the user's file: it is read in place


def test_load_check_counts_and_refuses_a_module_left_at_random() -> None:
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    state = {k: v.clone() for k, v in backbone.state_dict().items()}
    check = check_weights(backbone, state, 'ok.pth')
    counted = len([k for k in state if not k.endswith('num_batches_tracked')])
    assert len(check.matched) == check.expected == counted and not check.missing and not check.wrong_shape
    renamed = {f'encoder.{k}': v for k, v in state.items()}  # nothing matches: the model would keep its random init
    with pytest.raises(CheckpointError, match=rf'other.pth: only 0 of the {counted} tensors of Sequential match'):
        check_weights(backbone, renamed, 'other.pth')
    wider = dict(state, **{'0.weight': torch.zeros(8, 3, 3, 3)})  # same name, another shape: another architecture
    with pytest.raises(CheckpointError, match=r'x.pth: .*1 have the right name but another shape, e.g. 0.weight'):
        check_weights(backbone, wider, 'x.pth')
    head_only = {k: v for k, v in state.items() if k.startswith('1.')}  # 4 of 6 tensors: below min_fraction=1
    with pytest.raises(CheckpointError, match='y.pth: only 4 of the 6'):
        check_weights(backbone, head_only, 'y.pth')
    assert len(check_weights(backbone, head_only, 'y.pth', min_fraction=0.5).missing) == 2


@pytest.mark.full_stack
def test_smoke_and_data_root_rewrite_only_what_they_say(tmp_path: Path) -> None:
    cfg = Config.fromfile(str(COCO_FPN))
    set_data_root(cfg, str(tmp_path))
    assert cfg.train_dataloader.dataset.data_root == str(tmp_path)
    assert cfg.val_evaluator.ann_file == f'{tmp_path}/annotations/instances_val2017.json'
    smoke_cfg(cfg, iters=3, size=80, proposals=8)
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=3, val_interval=3)
    test_resize = [t for t in cfg.test_dataloader.dataset.pipeline if t.type == 'Resize'][0]
    assert test_resize.scale == (133, 80)  # (1333, 800) x 0.1
    train_scales = cfg.train_dataloader.dataset.pipeline[2].scales
    assert [min(s) for s in train_scales] == [64, 67, 70, 74, 77, 80]  # the multi-scale range keeps its shape
    assert cfg.model.train_cfg.rcnn.sampler.num == 8 and cfg.model.test_cfg.rpn.max_per_img == 8
    assert cfg.val_evaluator.type == 'CocoMetric'  # the real evaluator stays

    city = smoke_cfg(Config.fromfile(str(CITYSCAPES_FCN)), iters=2, size=64)
    assert city.model.test_cfg.mode == 'slide' and city.model.test_cfg.crop_size == (64, 64)
    assert city.model.data_preprocessor.size == (64, 64)


def test_smoke_drops_only_the_training_parts_the_samples_lack(downstream_root: Path) -> None:
    """VOC12aug = VOC2012 train + SBD aug; the VOC-layout samples have no aug list: --smoke trains on train alone,
    evaluates 2 val images, and needs no --cfg-options."""
    cfg = set_data_root(Config.fromfile(str(VOC12AUG_FCN)), str(downstream_root / 'voc_seg_rock/VOCdevkit/VOC2012'))
    parts = cfg.train_dataloader.dataset.datasets
    assert [p.ann_file for p in parts] == ['ImageSets/Segmentation/train.txt', 'ImageSets/Segmentation/aug.txt']
    smoke_cfg(cfg, size=64)
    assert [p.ann_file for p in cfg.train_dataloader.dataset.datasets] == ['ImageSets/Segmentation/train.txt']
    assert cfg.val_dataloader.dataset.indices == 2
    # nothing is dropped where every part exists (VOC07 + VOC12 detection samples), nor where none does
    voc0712 = set_data_root(Config.fromfile(str(VOC0712_C4)), str(downstream_root / 'VOCdevkit'))
    assert len(smoke_cfg(voc0712, size=96).train_dataloader.dataset.datasets) == 2
    nowhere = smoke_cfg(Config.fromfile(str(VOC12AUG_FCN)), size=64)
    assert len(nowhere.train_dataloader.dataset.datasets) == 2


@pytest.mark.slow
def test_cpu_path_from_nothing_to_a_smoke_run(cifar10_root: Path, downstream_root: Path, tmp_path: Path) -> None:
    """The documented CPU path: the ResNet-50 smoke pretraining config gives a checkpoint, and the VOC12aug smoke
    run takes it with no --cfg-options (both run as the README shows them)."""
    import subprocess
    import sys
    env = dict(__import__('os').environ, PYTHONPATH=str(REPO))
    pre = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/simsiam/simsiam_resnet50_1xb4-2it_cifar10-64px-smoke.py',
         '--work-dir', str(tmp_path / 'r50'), '--cfg-options', f'train_dataloader.dataset.data_root={cifar10_root}'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert pre.returncode == 0, pre.stderr[-3000:]
    ckpt = tmp_path / 'r50' / 'iter_2.pth'
    voc12 = downstream_root / 'voc_seg_rock/VOCdevkit/VOC2012'
    down = subprocess.run(
        [sys.executable, 'tools/benchmarks/train_downstream.py', str(VOC12AUG_FCN), str(ckpt), '--work-dir',
         str(tmp_path / 'voc12aug'), '--data-root', str(voc12), '--smoke', '--smoke-size', '64'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert down.returncode == 0, down.stderr[-3000:]
    assert '| mIoU |' in down.stdout and re.search(r'backbone: (\d+)/\1 tensors loaded', down.stdout)
    assert json.loads((tmp_path / 'voc12aug.json').read_text())['iters'] == 2


# ----------------------------------------------------------------------------------------------------------------
# the four benchmarks, 2 iterations each on the real samples, from a real SimSiam checkpoint
# ----------------------------------------------------------------------------------------------------------------
def _checkpoint_backbone(ckpt: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's backbone, read independently of the code under test."""
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    return {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}


BENCHMARKS = {
    'voc0712_faster_rcnn_c4': (VOC0712_C4, 'VOCdevkit', ['--smoke-size', '96', '--smoke-proposals', '16'], [],
                               ['pascal_voc/AP50', 'pascal_voc/AP75', 'pascal_voc/mAP']),
    'coco_mask_rcnn_fpn': (COCO_FPN, 'coco', ['--smoke-size', '96', '--smoke-proposals', '16'], [],
                           ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50']),
    # the rock set has no SBD part: --smoke trains on the VOC2012 train list alone and evaluates 2 val images
    'voc12aug_fcn': (VOC12AUG_FCN, 'voc_seg_rock/VOCdevkit/VOC2012', ['--smoke-size', '64'], [],
                     ['mIoU', 'aAcc', 'mAcc']),
    # only a val frame exists: train on it too
    'cityscapes_fcn': (CITYSCAPES_FCN, 'cityscapes', ['--smoke-size', '64'],
                       ['train_dataloader.dataset.data_prefix.img_path=leftImg8bit/val',
                        'train_dataloader.dataset.data_prefix.seg_map_path=gtFine/val'],
                       ['mIoU', 'aAcc', 'mAcc']),
}


@pytest.mark.slow
@pytest.mark.full_stack
@pytest.mark.parametrize('name', list(BENCHMARKS))
def test_benchmark_smoke_run(name: str, downstream_root: Path, simsiam_r50_checkpoint: Path,
                             tmp_path: Path) -> None:
    config, data, smoke_args, options, metric_keys = BENCHMARKS[name]
    work_dir = tmp_path / name
    snapshot = tmp_path / 'initialised.pth'
    targets = ['backbone', 'roi_head.shared_head'] if config in C4_CONFIGS else ['backbone']
    hook = dict(type='SnapshotHook', targets=targets, out=str(snapshot))  # the modules right after init_weights
    with_hook = tmp_path / config.name
    with_hook.write_text(f"_base_ = {str(config)!r}\n"
                         "custom_imports = dict(imports=['simsiam_mm', 'snapshot_hook'], allow_failed_imports=False)\n"
                         f"custom_hooks = [{hook!r}]\nlog_level = 'WARNING'\n")
    argv = [str(with_hook), str(simsiam_r50_checkpoint), '--work-dir', str(work_dir),
            '--data-root', str(downstream_root / data), '--smoke', *smoke_args]
    proc = train_downstream(*argv, *(['--cfg-options', *options] if options else []))
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads((tmp_path / f'{name}.json').read_text())

    # the initialised modules hold exactly the checkpoint's backbone tensors
    expected = _checkpoint_backbone(simsiam_r50_checkpoint)
    states = torch.load(snapshot, map_location='cpu')
    assert list(states) == targets
    for path, state in states.items():
        shared = [k for k in state if k in expected]
        assert shared, f'{path}: no tensor name in common with the checkpoint backbone'
        for k in shared:
            assert torch.equal(state[k], expected[k]), f'{path}.{k} differs from backbone.{k}'
        new = set(state) - set(shared)
        assert new == ({k for k in state if k.startswith('norm.')} if path == 'roi_head.shared_head' else set())
    assert [r['module'] for r in result['pretrained_load']] == targets
    assert all(r['loaded'] > 0 and r['loaded'] + r['not_in_checkpoint'] == r['module_tensors']
               for r in result['pretrained_load'])

    # the real evaluator ran: its metrics are there and finite, printed and saved next to the work dir
    assert result['iters'] == 2
    metrics = result['metrics']
    for key in metric_keys:
        assert key in metrics and math.isfinite(metrics[key]), (key, metrics)
    assert result['pretrain'] == str(simsiam_r50_checkpoint)  # printed and saved next to the work dir
    out = proc.stdout
    print('\n' + out[out.index('Pretrained '):])
    assert '| metric | value |' in out and all(f'| {k} |' in out for k in metric_keys)
    if 'pascal_voc/AP50' in metric_keys:
        assert 'pascal_voc/AP50: the figure comparable to the published VOC07+12 AP50' in out
