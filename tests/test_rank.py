"""RankMe, the collapse diagnosis and the label-free sweep (issue 25)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from simsiam_mm.evaluation.rank import COMPLETE_STD, DIMENSIONAL_FRACTION, diagnose, effective_rank, plot_spectra
from simsiam_mm.evaluation.sweep import build_grid, check_image_folder, score_of, spearman

from conftest import REPO

SWEEP = 'tools/analysis/sweep.py'
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore', PYTHONPATH=str(REPO))


# ---------------------------------------------------------------- RankMe of known matrices
@pytest.mark.parametrize('d', [8, 64, 512])
def test_identity_has_rank_d(d):
    assert effective_rank(torch.eye(d)) == pytest.approx(d, rel=1e-3)  # eps in p_k: +0.03 % at d=512


def test_rank_one_is_one():
    u, v = torch.randn(1000, 1), torch.randn(1, 128)
    assert effective_rank(u @ v) == pytest.approx(1.0, abs=1e-3)
    assert effective_rank(torch.zeros(10, 4)) == 1.0


@pytest.mark.parametrize('k', [2, 10, 50])
def test_rank_k_is_about_k(k):
    g = torch.Generator().manual_seed(k)
    q, _ = torch.linalg.qr(torch.randn(1000, k, generator=g))  # orthonormal columns: k equal singular values
    r, _ = torch.linalg.qr(torch.randn(256, k, generator=g))
    assert effective_rank(q @ r.T) == pytest.approx(k, rel=1e-3)
    gaussian = torch.randn(1000, k, generator=g) @ torch.randn(k, 256, generator=g)  # unequal singular values
    assert 0.6 * k < effective_rank(gaussian) <= k + 1e-3


def test_rank_is_scale_invariant_and_bounded_by_samples():
    x = torch.randn(50, 300)
    assert effective_rank(1000 * x) == pytest.approx(effective_rank(x), rel=1e-6)
    assert effective_rank(x) <= 50


def test_rank_matches_the_formula():
    """exp(-sum p log p), p = sigma / ||sigma||_1 + eps, written out for one matrix."""
    x = torch.randn(40, 12, dtype=torch.float64)
    p = torch.linalg.svdvals(x) / torch.linalg.svdvals(x).sum() + 1e-7
    assert effective_rank(x) == pytest.approx(float(torch.exp(-(p * p.log()).sum())), rel=1e-9)


# ---------------------------------------------------------------- the diagnosis
def test_diagnosis_states_and_advice():
    complete = diagnose(30.0, 512, COMPLETE_STD / 2)
    assert complete.state == 'complete' and 'stop-gradient' in complete.summary()
    assert diagnose(1.2, 512, 0.8).state == 'complete'
    dim = diagnose(DIMENSIONAL_FRACTION * 512 * 0.5, 512, 0.9)
    assert dim.state == 'dimensional' and 'augmentation' in dim.advice and 'batch' in dim.advice
    healthy = diagnose(DIMENSIONAL_FRACTION * 512 * 3, 512, 0.9, 60.0, 128)
    assert healthy.state == 'healthy' and '60.0/128' in healthy.summary()


def test_spectrum_plot(tmp_path):
    path = plot_spectra({'z': torch.linalg.svdvals(torch.randn(64, 32)).tolist()}, tmp_path / 's.png')
    assert path.stat().st_size > 1000


def _train_and_diagnose(images: torch.Tensor, stop_gradient: bool):
    """40 SGD steps (lr 0.5) of a width-8 ResNet-18 SimSiam on ``images``, then the diagnosis of z."""
    from simsiam_mm.models.simsiam import SimSiam, collapse_std
    torch.manual_seed(0)
    model = SimSiam(
        backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8, stem_channels=8),
        neck=dict(type='SimSiamProjector', in_channels=64, hid_channels=64, out_channels=64, num_layers=2,
                  norm_cfg=dict(type='BN1d')),
        head=dict(type='SimSiamHead', stop_gradient=stop_gradient, predictor=dict(
            type='SimSiamPredictor', in_channels=64, hid_channels=16, out_channels=64,
            norm_cfg=dict(type='BN1d'))),
        data_preprocessor=dict(type='BatchAugDataPreprocessor', crop_size=16, blur_prob=0.0,
                               mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True))
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-4)
    for _ in range(40):
        views = model.data_preprocessor(dict(inputs=images, data_samples=None), True)['inputs']
        loss = model.loss(views, None)['loss']
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        x = model.data_preprocessor(dict(inputs=images, data_samples=None), False)['inputs']
        z = model.neck(model.backbone(torch.nn.functional.interpolate(x, size=16, mode='bilinear',
                                                                        antialias=True)))
    return diagnose(effective_rank(z), 64, float(collapse_std(z)) * 8)


@pytest.mark.slow  # ~15 CPU s: two 40-step trainings of a width-8 ResNet-18
def test_no_stop_gradient_model_is_diagnosed_complete_collapse(cifar10_root):
    """A few SGD steps without stop-gradient (paper Fig. 2) collapse z (RankMe(z) about 2 of 64, z_std*sqrt(d)
    0.06); with stop-gradient the same steps do not."""
    import numpy as np
    from mmengine.registry import init_default_scope
    from PIL import Image
    init_default_scope('simsiam_mm')
    files = [f for c in sorted((cifar10_root / 'train').iterdir())[:4] for f in sorted(c.iterdir())[:16]]
    images = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert('RGB'))).permute(2, 0, 1).contiguous()
                          for f in files])  # 64 real CIFAR-10 images
    states = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # 40 steps at lr 0.5 are chaotic: the thread count changes the float sums and the end
    try:
        for stop_gradient in (False, True):
            states[stop_gradient] = _train_and_diagnose(images, stop_gradient)
    finally:
        torch.set_num_threads(threads)
    assert states[False].state == 'complete', states[False]
    assert states[True].state != 'complete', states[True]


@pytest.mark.parametrize('wrap', [False, True], ids=['tensor', 'tuple'])
def test_rank_hook_features_take_z_from_a_tensor_or_an_mmpretrain_tuple(wrap):
    """Our neck returns z; mmpretrain's (SimCLR, MoCo v2, BYOL: Table 4's rows) return ``(z,)``: both give N x d."""
    from simsiam_mm.evaluation.rank_hook import RankMeHook

    class Neck(torch.nn.Module):
        def forward(self, stages):
            z = stages[-1].mean((2, 3))[:, :3]
            return (z,) if wrap else z

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = lambda x: (x * 2,)
            self.neck = Neck()
            self.data_preprocessor = lambda batch, training: dict(inputs=batch['inputs'].float())

    hook = RankMeHook(interval=1, num_images=4)
    hook._buffer = [dict(inputs=torch.arange(4 * 4 * 2 * 2).reshape(4, 4, 2, 2))]
    model = Model().train()
    pooled, z = hook.features(model)
    assert pooled.shape == (4, 4) and z.shape == (4, 3) and model.training
    torch.testing.assert_close(z, pooled[:, :3])



def test_rank_hook_features_feed_swav_neck_a_list_of_backbone_outputs():
    """mmpretrain's SwAVNeck (Table 4's SwAV row) takes one backbone output per crop resolution; handed the stages
    themselves it would pool a single image's C x H x W. Its z is the neck's L2-normalised N x d output."""
    from mmpretrain.models.necks import SwAVNeck

    from simsiam_mm.evaluation.rank_hook import RankMeHook

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = lambda x: (x * 2,)
            self.neck = SwAVNeck(4, 8, 5, norm_cfg=dict(type='BN1d'))
            self.data_preprocessor = lambda batch, training: dict(inputs=batch['inputs'].float())

    hook = RankMeHook(interval=1, num_images=6)
    hook._buffer = [dict(inputs=torch.randn(6, 4, 3, 3))]
    model = Model().train()
    pooled, z = hook.features(model)
    assert pooled.shape == (6, 4) and z.shape == (6, 5) and model.training
    torch.testing.assert_close(z.norm(dim=1), torch.ones(6))
    torch.testing.assert_close(z, model.eval().neck([(hook._buffer[0]['inputs'] * 2,)]))

# ---------------------------------------------------------------- the sweep's logic
def test_spearman_and_score():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, rel=1e-6)
    assert score_of(dict(rank_backbone=50.0, diagnosis='complete')) == float('-inf')
    assert score_of(dict(rank_backbone=None)) == float('-inf')
    assert score_of(dict(rank_backbone=50.0, diagnosis='healthy')) == 50.0


def test_grids():
    star = [r.name for r in build_grid('star')]
    assert star[0] == 'recipe' and len(star) == 7 and len(set(star)) == 7
    bad = [r for r in build_grid('validation') if r.bad]
    assert {r.name for r in bad} == {'bad-lr-x10', 'bad-lr-x0.1', 'bad-no-stop-gradient', 'bad-no-predictor',
                                     'bad-no-augmentation'}


def test_image_folder_checks(tmp_path):
    from simsiam_mm.errors import DataError, MissingPathError
    with pytest.raises(MissingPathError, match='nothing_here'):
        check_image_folder(tmp_path / 'nothing_here')
    (tmp_path / 'empty' / 'train' / 'a').mkdir(parents=True)
    with pytest.raises(DataError, match='holds no image'):
        check_image_folder(tmp_path / 'empty')


def test_sweep_dry_run_lists_the_grid(capsys, tmp_path):
    sys.path.insert(0, str(REPO / 'tools/analysis'))
    try:
        import sweep as sweep_tool
    finally:
        sys.path.pop(0)
    sweep_tool.main(['--data-root', str(tmp_path / 'not_needed_for_a_dry_run'), '--dry-run',
                     '--work-dir', str(tmp_path / 'w')])
    out = capsys.readouterr().out
    for run in build_grid('star'):
        assert f'# {run.name}: ' in out
    assert out.count('tools/train.py') == 7 and not (tmp_path / 'w').exists()
    sweep_tool.main(['--data-root', 'x', '--dry-run', '--gpus', '8', '--work-dir', str(tmp_path / 'w')])
    assert capsys.readouterr().out.count('tools/dist_train.sh') == 7


# ---------------------------------------------------------------- a real 2-run sweep (slow)
@pytest.fixture(scope='module')
def two_run_sweep(cifar10_root, tmp_path_factory):
    """recipe + no stop-gradient, 30 iterations each of batch 64 on 128 CIFAR-10 images (float32: bfloat16 autocast
    is ~8x slower on one busy CPU thread)."""
    tmp = tmp_path_factory.mktemp('sweep')
    for cls in sorted(p.name for p in (cifar10_root / 'train').iterdir())[:4]:
        (tmp / 'data' / 'train' / cls).mkdir(parents=True)
        for f in sorted((cifar10_root / 'train' / cls).iterdir())[:32]:
            (tmp / 'data' / 'train' / cls / f.name).symlink_to(f)
    cmd = [sys.executable, SWEEP, '--data-root', str(tmp / 'data'), '--grid', 'validation', '--runs', 'recipe',
           'bad-no-stop-gradient', '--iters', '30', '--rank-images', '128', '--work-dir', str(tmp / 'work'),
           '--cfg-options', 'optim_wrapper.dtype=float32']
    proc = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=1800)
    return tmp / 'work', proc


@pytest.mark.slow
def test_two_run_sweep_completes(two_run_sweep):
    work, proc = two_run_sweep
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert '[2/2]' in proc.stdout and 'ETA' in proc.stdout and 'Chosen: ' in proc.stdout
    for name in ('sweep.md', 'sweep.csv', 'spectra_backbone.png', 'spectra_z.png', 'chosen.py'):
        assert (work / name).is_file(), name
    for run in ('recipe', 'bad-no-stop-gradient'):
        result = json.loads((work / run / 'rankme.json').read_text())
        assert result['diagnosis']['state'] in ('healthy', 'dimensional', 'complete')
        assert 'RankMeHook diagnosis' in (work / run / 'train.out').read_text()


@pytest.mark.slow
def test_training_log_shows_rank_beside_collapse_score(two_run_sweep):
    work, _ = two_run_sweep
    log = (work / 'recipe' / 'train.out').read_text()
    line = next(ln for ln in log.splitlines() if 'RankMe after 30 iterations' in ln)
    assert 'backbone' in line and ' z ' in line and 'z_std*sqrt(d)' in line
    scalars = [json.loads(ln) for p in Path(work / 'recipe').glob('*/vis_data/scalars.json')
               for ln in p.read_text().splitlines()]
    assert any('rankme/backbone' in s and 'rankme/z' in s for s in scalars)
    assert any('z_std_x_sqrt_d' in s for s in scalars)
