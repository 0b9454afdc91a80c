"""The paper's ablations (issues 15, 24): the cross-entropy similarity's properties, BN placement by injected norm
configs, pairs of views, and every row config of tools/analysis/ablations.py building and training (subprocess)."""
import json
import os
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from torch import nn

import simsiam_mm  # noqa: F401  (registers the modules)
from simsiam_mm.apis.config import check_config
from simsiam_mm.errors import ConfigError
from simsiam_mm.models import CrossEntropySimilarity, SimSiamHead, SimSiamPredictor, SimSiamProjector
from simsiam_mm.registry import HOOKS

from conftest import REPO, pretrain, run_python_tool, tiny_pretrain_cfg, tiny_simsiam

BN1D = dict(type='BN1d')
RUNNER = REPO / 'tools/analysis/ablations.py'
ABLATIONS = REPO / 'configs/simsiam/ablations'
ENV = dict(os.environ, PYTHONPATH=str(REPO))


# ---------------------------------------------------------------- cross-entropy similarity (Sec. 4.5)
def entropy(z: torch.Tensor) -> torch.Tensor:
    q = z.softmax(dim=1)
    return -(q * q.log()).sum(dim=1).mean()


@pytest.mark.parametrize('n', [1, 2, 7, 64])
def test_cross_entropy_range_and_minimum(n):
    torch.manual_seed(n)
    D = CrossEntropySimilarity()
    p, z = torch.randn(n, 32), torch.randn(n, 32)
    assert float(D(p, z)) >= float(entropy(z)) - 1e-6 >= -1e-6  # H(q, s) >= H(q) >= 0
    assert float(D(z, z)) == pytest.approx(float(entropy(z)), abs=1e-5)  # the minimum over p, at p = z
    assert float(D(p, z)) <= float(-p.log_softmax(dim=1).min(dim=1).values.mean()) + 1e-6  # a convex combination
    shift_p, shift_z = torch.randn(n, 1), torch.randn(n, 1)
    assert float(D(p + shift_p, z + shift_z)) == pytest.approx(float(D(p, z)), abs=1e-5)  # softmax: shift invariant
    perm = torch.randperm(32)
    assert float(D(p[:, perm], z[:, perm])) == pytest.approx(float(D(p, z)), abs=1e-5)  # channel order
    assert D(p.bfloat16(), z.bfloat16()).dtype == torch.float32


@pytest.mark.parametrize('n', [1, 3, 16])
def test_cross_entropy_gradient_only_through_p_when_z_detached(n):
    p, z = torch.randn(n, 8, requires_grad=True), torch.randn(n, 8, requires_grad=True)
    CrossEntropySimilarity()(p, z.detach()).backward()
    assert z.grad is None
    torch.testing.assert_close(p.grad, (p.softmax(1) - z.softmax(1)).detach() / n)  # d/dp of the batch mean
    p2, z2 = p.detach().clone().requires_grad_(True), z.detach().clone().requires_grad_(True)
    CrossEntropySimilarity()(p2, z2).backward()
    assert z2.grad is not None and z2.grad.abs().sum() > 0  # without the detach the target gets gradient


@pytest.mark.parametrize('n', [2, 9])
def test_cross_entropy_head_symmetric_in_views_not_in_arguments(n):
    pred = dict(type='SimSiamPredictor', in_channels=16, hid_channels=4, out_channels=16, norm_cfg=BN1D)
    head = SimSiamHead(predictor=pred, loss=dict(type='CrossEntropySimilarity')).eval()
    z1, z2 = torch.randn(n, 16), torch.randn(n, 16)
    assert float(head.loss(z1, z2)['loss']) == pytest.approx(float(head.loss(z2, z1)['loss']), abs=1e-6)
    D = CrossEntropySimilarity()
    assert float(D(z1, z2)) != pytest.approx(float(D(z2, z1)), abs=1e-4)  # D itself is not symmetric


# ---------------------------------------------------------------- BN placement (Table 3)
def norms(module: nn.Module) -> list[bool]:
    """For each fc of an MLP: is it followed by a BatchNorm?"""
    layers = list(module.mlp)
    return [isinstance(layers[i + 1], nn.BatchNorm1d) for i, m in enumerate(layers) if isinstance(m, nn.Linear)]


@pytest.mark.parametrize('neck, pred, want_f, want_h', [
    (dict(), dict(), [True, True], [True, False]),  # default: hidden + projector output
    (dict(norm_cfg=None, out_norm_cfg=None), dict(norm_cfg=None), [False, False], [False, False]),  # none
    (dict(out_norm_cfg=None), dict(), [True, False], [True, False]),  # hidden only
    (dict(), dict(out_norm_cfg=dict(affine=True)), [True, True], [True, True]),  # all
])
def test_bn_placement_by_injected_norm_configs(neck, pred, want_f, want_h):
    f = SimSiamProjector(in_channels=8, hid_channels=8, out_channels=4, num_layers=2, **{'norm_cfg': BN1D, **neck})
    h = SimSiamPredictor(in_channels=4, hid_channels=2, out_channels=4, **{'norm_cfg': BN1D, **pred})
    assert norms(f) == want_f and norms(h) == want_h
    for mlp in (f.mlp, h.mlp):
        layers = list(mlp)
        for i, m in enumerate(layers):
            if isinstance(m, nn.Linear):  # a bias only where no BN follows
                assert (m.bias is None) == isinstance(layers[i + 1], nn.BatchNorm1d)
    assert len(f.mlp) == 5 and len(h.mlp) == 5  # Identity placeholders: the official layer indices never move
    if pred.get('out_norm_cfg'):
        assert h.mlp[-1].affine
    if want_f[-1]:
        assert not f.mlp[-1].affine  # the projector's output BN, as in the official builder
    f((torch.randn(4, 8, 2, 2),)), h(torch.randn(4, 4))


def test_out_norm_without_type_and_no_norm_names_the_key():
    with pytest.raises(ConfigError, match=r'model\.neck\.out_norm_cfg'):
        SimSiamProjector(in_channels=8, hid_channels=8, out_channels=4, norm_cfg=None)


# ---------------------------------------------------------------- pairs of views (Sec. 4.6, asym. 2x)
def test_four_views_are_two_pairs_averaged():
    torch.manual_seed(0)
    model = tiny_simsiam(symmetric=False)
    views = [torch.randn(4, 3, 8, 8) for _ in range(4)]
    four = model.loss(views, None)
    pair1, pair2 = model.loss(views[:2], None), model.loss(views[2:], None)
    assert float(four['loss']) == pytest.approx(0.5 * float(pair1['loss'] + pair2['loss']), abs=1e-5)
    assert float(four['z_std']) == pytest.approx(float(pair1['z_std']), abs=1e-6)  # view 1's projection
    with pytest.raises(ConfigError, match='num_views must be even'):
        model.loss(views[:3], None)


# ---------------------------------------------------------------- every row config trains (the runner's configs)
def runner_module():
    """tools/analysis/ablations.py imported as a module (its functions, without a subprocess)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('ablations_tool', RUNNER)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@HOOKS.register_module(force=True)
class _CountViews(Hook):
    """Records how many views each training batch carries."""
    seen: list = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        _CountViews.seen.append(len(data_batch['inputs']))


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory) -> tuple[Path, str]:
    """``ablations.py --table all --budget smoke --dry-run``: the merged configs it writes and what it prints."""
    work = tmp_path_factory.mktemp('ablations')
    out = run_python_tool([RUNNER, '--table', 'all', '--budget', 'smoke', '--dry-run', '--work-dir', work], env=ENV)
    assert out.returncode == 0, out.stderr
    return work / 'smoke', out.stdout


@pytest.mark.slow
def test_dry_run_prints_train_and_knn_commands(dry_run):
    root, stdout = dry_run
    runs = sorted(p.name for p in root.iterdir())
    assert len(runs) == 28 and {'asymmetric-2x', 'baseline-batch4', 'alternation-epoch', 'moving-average',
                                'baseline-dim256', 'compare-byol', 'compare-swav-no-stopgrad'} <= set(runs)
    assert 'baseline-batch8' not in runs and 'baseline-dim2048' not in runs  # the recipe's own: the baseline run
    for run in runs:
        assert f'tools/train.py {root.resolve() / run / run}.py --work-dir' in stdout
    # rows of fig2, 1, 2, 3, sec4.5, sec4.6, sec5.2-steps, sec5.2-average, appB, 4, sec6.2, sec6.2-swav
    assert stdout.count('tools/analysis/knn_eval.py') == 2 + 4 + 2 + 4 + 2 + 3 + 5 + 4 + 2 + 6 + 3 + 3
    cfg = {run: Config.fromfile(str(root / run / f'{run}.py')) for run in runs}
    quick = Config.fromfile(str(REPO / 'configs/simsiam/simsiam_resnet18-cifar_1xb32-coslr-1e-2k_cifar10-quick.py'))
    lr = {4: cfg['baseline-batch4'].optim_wrapper.optimizer.lr, 8: cfg['baseline'].optim_wrapper.optimizer.lr}
    assert lr[4] == pytest.approx(quick.optim_wrapper.optimizer.lr * 4 / 32)  # lr = base x B / 256
    assert lr[8] == pytest.approx(2 * lr[4])
    assert cfg['baseline-batch4'].train_dataloader.batch_size == 4
    assert {cfg[r].optim_wrapper.optimizer.type for r in ('baseline-batch4', 'baseline')} == {'SGD'}  # never LARS
    # Appendix B: d scaled by the recipe's d / 2048 (the quick recipe has d = 2048), predictor hidden d / 4
    head, neck = cfg['baseline-dim256'].model.head.predictor, cfg['baseline-dim256'].model.neck
    assert (neck.out_channels, head.in_channels, head.hid_channels, head.out_channels) == (256, 256, 64, 256)
    # Table 3 "none": a warm-up over the first 10% (the paper's footnote); the default row has none
    warm, cosine = cfg['bn-none'].param_scheduler
    assert warm['type'] == 'LinearLR' and warm['end'] == max(1, round(0.1 * cosine['end']))
    assert cosine['begin'] == warm['end'] and cosine['T_max'] == cosine['end'] - warm['end']
    assert [s['type'] for s in cfg['baseline'].param_scheduler] == ['CosineAnnealingLR']
    assert cfg['moving-average'].model.memory_size == 32 and cfg['moving-average'].model.head.predictor is None
    assert cfg['alternation-100'].train_cfg.type == 'AlternationLoop'
    assert cfg['compare-simclr'].optim_wrapper.optimizer.lr == pytest.approx(4.8 * 8 / 4096)  # mmpretrain's, scaled
    assert cfg['compare-simclr'].model.neck.in_channels == 64  # the budget's backbone width
    assert cfg['simsiam-paper-lr'].optim_wrapper.optimizer.lr == pytest.approx(0.05 * 8 / 256)  # over the budget's
    # SwAV: mmpretrain's lr 0.6 at batch 256, scaled; its SwAVHook after the recipe's hooks, filled at the budget
    # (smoke: 4 iterations of batch 8 -> the prototypes frozen for max(1, 1 % of 4) iterations)
    swav = cfg['compare-swav']
    assert swav.optim_wrapper.optimizer.lr == pytest.approx(0.6 * 8 / 256)
    *recipe_hooks, swav_hook = swav.custom_hooks
    assert recipe_hooks == quick.get('custom_hooks', []) and swav_hook.type == 'mmpretrain.SwAVHook'
    assert swav_hook.batch_size == 8 and swav_hook.frozen_layers_cfg == dict(prototypes=1)
    assert 'method_hooks' not in swav


def test_paper_values_are_the_corrected_ones():
    from simsiam_mm.paper import TABLES
    rows = {(t, r.config): r.paper for t, (_, rs) in TABLES.items() for r in rs}
    assert rows[('3', 'bn-all')] is None  # "unstable": no number in the paper
    assert rows[('fig2', 'predictor-lr-decayed')] == 67.7 and ('fig2', 'baseline') not in rows
    assert rows[('sec4.5', 'cross-entropy')] == 63.2 and rows[('sec4.6', 'asymmetric-2x')] == 67.3
    assert rows[('4', 'compare-mocov2')] == 67.4  # Table 4 is the method comparison
    assert rows[('sec6.2-swav', 'compare-swav-predictor')] == 65.2  # Sec. 6.2, SwAV + prediction MLP
    assert rows[('sec6.2-swav', 'compare-swav-no-stopgrad')] is None  # "NaN": diverged, no accuracy
    for path in [REPO / 'docs/ablations.md', REPO / 'simsiam_mm/paper.py', *ABLATIONS.glob('*.py')]:
        assert '35.2' not in path.read_text(), path


@pytest.mark.slow
@pytest.mark.parametrize('budget', ['smoke', 'cpu-tiny', 'cpu-short', 'cifar-800e', 'in1k-100e'])
def test_dry_run_lists_every_table_at_every_budget(budget, tmp_path):
    from simsiam_mm.paper import BUDGETS, LINEAR_PROBE, TABLES, rows_of
    proc = run_python_tool([RUNNER, '--table', 'all', '--budget', budget, '--dry-run', '--work-dir', tmp_path],
                           env=ENV)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for table, (title, _) in TABLES.items():
        assert out.count(f'# {title}: ') == len(rows_of(table, BUDGETS[budget])) > 0, (budget, table)
    if budget == 'in1k-100e':  # the paper's protocol: the linear probe, not kNN
        assert 'knn_eval' not in out and out.count(LINEAR_PROBE) == out.count('# ') > 0
        assert 'evaluation: linear' in out and 'model.backbone.init_cfg.checkpoint=$(cat ' in out
        probe = Config.fromfile(str(REPO / LINEAR_PROBE))  # the file exists (it once pointed at configs/benchmarks/)
        assert probe.model.backbone.init_cfg.type == 'CheckedPretrained' and probe.train_cfg.max_epochs == 90
        assert probe.optim_wrapper.optimizer.type == 'LARS' and probe.train_dataloader.batch_size * 8 == 4096
        assert {'data_root'} <= set(probe.train_dataloader.dataset) & set(probe.val_dataloader.dataset)
    else:
        assert LINEAR_PROBE not in out and out.count('knn_eval.py') == out.count('# ')


@pytest.mark.slow
def test_dry_run_on_several_gpus_emits_dist_train(tmp_path):
    proc = run_python_tool([RUNNER, '--table', 'sec4.5', '--budget', 'in1k-100e', '--gpus', '8', '--dry-run',
                            '--work-dir', tmp_path], env=ENV)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count('bash tools/dist_train.sh') == 2 * 2 and ' 8 --work-dir' in out  # pretraining + linear probe


@pytest.mark.slow
def test_every_ablation_config_builds_and_trains_2_iterations(dry_run, cifar10_root, tmp_path):
    root, _ = dry_run
    for cfg_file in sorted(root.glob('*/*.py')):
        merged = Config.fromfile(str(cfg_file))
        cfg = tiny_pretrain_cfg(cifar10_root, tmp_path / cfg_file.stem, backbone='tiny', iters=2, num_images=16,
                                config=cfg_file)
        if merged.train_cfg.type == 'AlternationLoop':  # keep the row's loop (k steps of cached targets)
            cfg.train_cfg = dict(type='AlternationLoop', steps=merged.train_cfg.steps, max_iters=2)
        if cfg.model.type == 'mmpretrain.MoCo':
            cfg.model.feat_dim = cfg.model.neck.out_channels  # the queue's width: the tiny neck's output
        if cfg.model.type in ('mmpretrain.SwAV', 'SwAVWithPredictor'):
            cfg.model.head.loss.feat_dim = cfg.model.neck.out_channels  # the prototypes' width: the tiny neck's
        if cfg.model.get('predictor') and cfg.model.type.endswith('WithPredictor'):  # Sec. 6.2's h, tiny neck's d
            d = cfg.model.neck.out_channels
            cfg.model.predictor.update(in_channels=d, hid_channels=d // 4, out_channels=d)
        # RankMe at the end, as the CPU budgets' recipe runs it (it once failed on mmpretrain's necks after training)
        cfg.custom_hooks = cfg.custom_hooks + [dict(type='_CountViews'),
                                               dict(type='RankMeHook', interval=2, num_images=8, batch_size=8)]
        _CountViews.seen = []
        check_config(cfg)  # tools/train.py's start-up check (a hook's `priority` once failed it, not the Runner)
        assert pretrain(cfg).exists(), cfg_file.stem
        assert _CountViews.seen == [4 if cfg_file.stem == 'asymmetric-2x' else 2] * 2, cfg_file.stem


@pytest.mark.slow
def test_runner_trains_evaluates_and_tabulates_over_seeds(cifar10_root, tmp_path):
    """Sec. 4.5 at ``smoke`` with ``--seeds 0 1``: every row trains and is scored once per seed (seed 0 in RUN, seed
    1 in RUN-seed1, another init); the table gives top-1 mean ± sd over the seeds and each row's paired difference to
    the baseline row, with the curves, the markdown and the plot."""
    proc = run_python_tool([RUNNER, '--table', 'sec4.5', '--budget', 'smoke', '--seeds', '0', '1', '--data-root',
                            cifar10_root, '--work-dir', tmp_path], env=ENV)
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / 'smoke'
    table = json.loads((root / 'tablesec4.5_smoke.json').read_text())
    assert table['seeds'] == [0, 1]
    runs = {}
    for run in ('baseline', 'cross-entropy'):
        for suffix, seed in (('', 0), ('-seed1', 1)):
            assert Config.fromfile(str(root / f'{run}{suffix}' / f'{run}{suffix}.py')).randomness.seed == seed
            runs[run, seed] = json.loads((root / f'{run}{suffix}' / 'result.json').read_text())
            assert runs[run, seed]['status'] == 'ok' and runs[run, seed]['run'] == f'{run}{suffix}'
    assert runs['baseline', 0]['curves']['loss'] != runs['baseline', 1]['curves']['loss']  # another init
    base, ce = table['rows']
    for row, run in ((base, 'baseline'), (ce, 'cross-entropy')):
        top1s = [runs[run, 0]['top1'], runs[run, 1]['top1']]
        assert row['top1_seeds'] == top1s and row['top1'] == pytest.approx(sum(top1s) / 2)
        assert row['top1_sd'] == pytest.approx(abs(top1s[0] - top1s[1]) / 2 ** 0.5)
    diffs = [runs['cross-entropy', s]['top1'] - runs['baseline', s]['top1'] for s in (0, 1)]
    assert base['paired_delta'] == 0 and ce['paired_delta'] == pytest.approx(sum(diffs) / 2)
    assert ce['paired_delta_sd'] == pytest.approx(abs(diffs[0] - diffs[1]) / 2 ** 0.5)
    assert ce['name'] == 'cross-entropy' and ce['paper'] == 63.2 and 0 <= ce['top1'] <= 100
    assert len(ce['curves']['loss']) == 4  # smoke: 4 iterations, logged each (seed 0's curves)
    assert ce['final_z_std_x_sqrt_d'] > 0 and ce['final_loss'] >= 0  # cross-entropy is >= 0
    assert table['wall_seconds'] >= ce['train_seconds']
    assert (root / 'tablesec4.5_smoke.png').stat().st_size > 0
    md = (root / 'tablesec4.5_smoke.md').read_text()
    assert 'paired Δ vs cosine (default) (mean ± sd)' in md and '| cross-entropy | 63.2 |' in md


def test_paired_delta_is_to_the_baseline_row_or_else_the_first():
    """Sec. 6.2's tables have no ``baseline`` row: their rows are paired with the first (SimCLR, SwAV), the method
    SimSiam's parts are added to (the column was empty there once)."""
    tool = runner_module()
    result = [dict(seeds=[0, 1], top1_seeds=t) for t in ([40.0, 44.0], [41.0, 47.0], [30.0, 30.0])]
    rows = tool.TABLES['sec6.2-swav'][1]
    assert tool.reference(rows) == 0
    (d0, sd0), (d1, sd1), (d2, _) = tool.paired_deltas(rows, result)
    assert (d0, sd0) == (0, 0) and d1 == pytest.approx(2.0) and sd1 == pytest.approx(2 ** 0.5) and d2 == -12.0
    rows = tool.TABLES['sec4.5'][1]  # cosine (baseline), cross-entropy
    assert tool.reference(rows) == 0 and tool.reference(rows[::-1]) == 1
    assert tool.paired_deltas(rows[::-1], result[:2])[0] == (-2.0, pytest.approx(2 ** 0.5))
    assert tool.paired_deltas(rows, [dict(r, seeds=[0]) for r in result[:2]]) == [(None, None)] * 2  # one seed


@pytest.mark.parametrize('budget_name', ['smoke', 'cpu-short'])
def test_alternation_rows_convert_only_epoch_based_schedulers(budget_name):
    """The alternation loop counts iterations: an epoch-based scheduler is converted, an iteration-based one (the
    cpu-short budget's) is left alone (mmengine refuses to convert it: the rows failed at start-up once)."""
    tool = runner_module()
    budget = tool.BUDGETS[budget_name]
    for row in tool.TABLES['sec5.2-steps'][1][1:]:
        cfg = tool.row_config(budget, row, 'data/cifar10', 1)
        assert cfg.train_cfg.type == 'AlternationLoop', row.run
        for sched in cfg.param_scheduler:
            assert sched.get('convert_to_iter_based', False) == sched.get('by_epoch', True), (row.run, sched)


def test_misspelt_row_key_is_named_not_merged(tmp_path, monkeypatch):
    """A row's own key misspelt (``method_hook``) would be merged into the config, where the Runner ignores it and
    SwAV trains without its hook: the runner names it instead. A key the Runner reads passes through."""
    tool = runner_module()
    (tmp_path / 'typo.py').write_text((ABLATIONS / 'compare-swav.py').read_text().replace('method_hooks =',
                                                                                       'method_hook ='))
    monkeypatch.setattr(tool, 'ABLATIONS', tmp_path)
    row = tool.Row(name='typo', config='typo', paper=None)
    with pytest.raises(ConfigError, match=r"typo.py: unknown key 'method_hook' \(did you mean 'method_hooks'\?\)"):
        tool.row_config(tool.BUDGETS['smoke'], row, 'data/cifar10', 1)
    (tmp_path / 'typo.py').write_text((ABLATIONS / 'compare-swav.py').read_text())
    assert tool.row_config(tool.BUDGETS['smoke'], row, 'data/cifar10', 1).custom_hooks[-1].type == 'mmpretrain.SwAVHook'
