"""The fast path (channels-last views, bf16 autocast with fp32 master weights, foreach SGD) keeps SimSiam's numbers.

The numerical guard trains a narrow ResNet-18-CIFAR (width 8) twice from the same initial weights on the same 50
batches of real CIFAR-10 images: once on the float32 path, once with every fast-path switch of
``configs/simsiam/*-fast.py``. Speed is not asserted here: ``tools/analysis/train_throughput.py`` measures it.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import simsiam_mm  # noqa: F401
from simsiam_mm.engine import AutocastOptimWrapper
from simsiam_mm.models import SimSiamDataPreprocessor
from simsiam_mm.registry import MODELS

from conftest import REPO, tiny_pretrain_cfg, tiny_sizes

ITERS, BATCH, WIDTH, D = 50, 16, 8, 64
# Stated tolerances (bf16 keeps 8 significant bits, ~0.4% per rounding):
LOSS_TOL_FIRST = 0.02  # loss of the very first step, same weights and batch
LOSS_TOL_LAST10 = 0.05  # mean loss over iterations 41-50, after 50 SGD steps on either path
HEALTHY_STD = 0.3  # z_std*sqrt(d): ~1 healthy, -> 0 collapsed (paper Fig. 2)

FAST_SWITCHES = dict(
    data_preprocessor=dict(type='SimSiamDataPreprocessor', channels_last=True),
    optim_wrapper=dict(type='AutocastOptimWrapper', dtype='bfloat16'),
    foreach=True)


def _tiny_cfg(cifar10_root: Path, tmp_path: Path) -> Config:
    cfg = tiny_pretrain_cfg(cifar10_root, tmp_path, iters=ITERS, batch_size=BATCH, num_images=4 * BATCH)
    cfg.merge_from_dict(dict(model=tiny_sizes(width=WIDTH, dim=D, hid=D)))  # 8-16-32-64 channels, d = 64
    cfg.model.backbone.norm_cfg = dict(type='BN')
    cfg.model.neck.norm_cfg = cfg.model.head.predictor.norm_cfg = dict(type='BN1d')
    cfg.optim_wrapper.optimizer.lr = 0.05  # large enough that 50 steps move the loss well beyond the tolerance
    return cfg


def _batches(cfg: Config) -> list:
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    batches = []
    while len(batches) < ITERS:
        batches.extend(loader)
    return batches[:ITERS]


def _train(cfg: Config, batches: list, fast: bool) -> tuple[list[float], list[float], torch.nn.Module]:
    cfg = cfg.copy()
    if fast:
        cfg.model.data_preprocessor.update(FAST_SWITCHES['data_preprocessor'])
        cfg.optim_wrapper.update(FAST_SWITCHES['optim_wrapper'])
        cfg.optim_wrapper.optimizer.foreach = FAST_SWITCHES['foreach']
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        torch.manual_seed(0)  # the same initial weights on both paths
        model = MODELS.build(cfg.model)
        model.init_weights()
        model = revert_sync_batchnorm(model).train()
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert isinstance(optim_wrapper, AutocastOptimWrapper) == fast
    losses, stds = [], []
    for batch in batches:
        log_vars = model.train_step(batch, optim_wrapper)
        losses.append(float(log_vars['loss'].detach()))
        stds.append(float(log_vars['z_std_x_sqrt_d'].detach()))  # the model's own z_std·√d
    return losses, stds, model


@pytest.fixture(scope='module')
def runs(cifar10_root, tmp_path_factory):
    torch.set_num_threads(1)  # deterministic kernels choice, and kind to a shared machine
    cfg = _tiny_cfg(cifar10_root, tmp_path_factory.mktemp('fast_path'))
    batches = _batches(cfg)
    return dict(fp32=_train(cfg, batches, fast=False), fast=_train(cfg, batches, fast=True), batch=batches[0])


@pytest.mark.slow  # trains 2 x 50 iterations (the `runs` fixture)
def test_fast_path_loss_within_tolerance_of_fp32(runs):
    fp32, fast = runs['fp32'][0], runs['fast'][0]
    assert abs(fast[0] - fp32[0]) < LOSS_TOL_FIRST, (fast[0], fp32[0])
    last_fp32, last_fast = sum(fp32[-10:]) / 10, sum(fast[-10:]) / 10
    assert abs(last_fast - last_fp32) < LOSS_TOL_LAST10, (last_fast, last_fp32)
    # the comparison means something only if training moved the loss by much more than the tolerance
    assert fp32[0] - last_fp32 > 4 * LOSS_TOL_LAST10, (fp32[0], last_fp32)


@pytest.mark.slow
def test_fast_path_collapse_std_stays_healthy(runs):
    std_fp32, std_fast = runs['fp32'][1], runs['fast'][1]
    assert min(std_fast[-10:]) > HEALTHY_STD, std_fast[-10:]
    assert abs(sum(std_fast[-10:]) - sum(std_fp32[-10:])) / 10 < 0.25, (std_fast[-10:], std_fp32[-10:])


@pytest.mark.slow
def test_fast_path_switches_take_effect(runs, cifar10_root, tmp_path):
    """bf16 compute on channels-last views, while parameters, gradients and optimizer state stay float32."""
    model = runs['fast'][2]
    seen = {}
    model.backbone.conv1.register_forward_hook(
        lambda m, args, out: seen.update(cl=args[0].is_contiguous(memory_format=torch.channels_last),
                                         dtype=out.dtype))
    cfg = _tiny_cfg(cifar10_root, tmp_path)
    cfg.optim_wrapper.update(FAST_SWITCHES['optim_wrapper'])
    cfg.optim_wrapper.optimizer.foreach = True
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train_step(runs['batch'], optim_wrapper)
    assert seen == dict(cl=True, dtype=torch.bfloat16)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert optim_wrapper.optimizer.defaults['foreach'] is True
    momentum = [s['momentum_buffer'] for s in optim_wrapper.optimizer.state.values()]
    assert momentum and all(m.dtype == torch.float32 for m in momentum)


@pytest.mark.parametrize('fast, base', [
    ('simsiam_resnet50_8xb32-coslr-100e_in1k-fast.py', 'simsiam_resnet50_8xb32-coslr-100e_in1k.py'),
    ('simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10-fast.py', 'simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10.py'),
])
def test_fast_configs_change_only_the_switches(fast, base):
    """Same model, schedule, optimizer hyper-parameters and data as the base: only speed switches differ."""
    f, b = (Config.fromfile(str(REPO / 'configs/simsiam' / name)) for name in (fast, base))
    assert f.model.data_preprocessor == dict(b.model.data_preprocessor, type='SimSiamDataPreprocessor',
                                             channels_last=True)
    for key in ('backbone', 'neck', 'head', 'type'):
        assert f.model[key] == b.model[key]
    assert f.optim_wrapper.optimizer == dict(b.optim_wrapper.optimizer, foreach=True)
    assert f.optim_wrapper.type == 'AutocastOptimWrapper' and f.optim_wrapper.dtype == 'bfloat16'
    assert f.optim_wrapper.constructor == b.optim_wrapper.constructor
    assert f.param_scheduler == b.param_scheduler and f.train_cfg == b.train_cfg
    assert f.train_dataloader.dataset == b.train_dataloader.dataset
    assert f.train_dataloader.batch_size == b.train_dataloader.batch_size


def test_channels_last_preprocessor_changes_strides_not_values():
    views = [torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8) for _ in range(2)]
    kwargs = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
    plain = SimSiamDataPreprocessor(**kwargs)(dict(inputs=views, data_samples=None))['inputs']
    nhwc = SimSiamDataPreprocessor(channels_last=True, **kwargs)(dict(inputs=views, data_samples=None))['inputs']
    for a, b in zip(plain, nhwc):
        assert torch.equal(a, b)
        assert b.is_contiguous(memory_format=torch.channels_last) and not a.is_contiguous(
            memory_format=torch.channels_last)


def test_autocast_wrapper_rejects_unknown_dtype():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match='optim_wrapper.dtype'):
        AutocastOptimWrapper(dtype='int8', optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


@pytest.mark.parametrize('dtype,expected', [('bfloat16', torch.bfloat16), ('float32', torch.float32)])
def test_autocast_wrapper_float32_turns_autocast_off(dtype, expected):
    model = torch.nn.Linear(4, 2)
    wrapper = AutocastOptimWrapper(dtype=dtype, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        assert model(torch.randn(3, 4)).dtype == expected


# ---------------------------------------------------------------- the benchmark compares like with like


SWITCHES = ['+channels_last', '+bf16', '+foreach', '+fused', '+loader', '+compile']


@pytest.fixture(scope='module')
def benchmark_variants(tmp_path_factory) -> dict:
    """``tools/analysis/train_throughput.py --dry-run``: every variant of two cases, built as the benchmark builds
    them (no data, no timing), as the JSON it writes."""
    out = tmp_path_factory.mktemp('benchmark') / 'dry_run.json'
    cmd = [sys.executable, str(REPO / 'tools/analysis/train_throughput.py'), '--dry-run', '--cases', 'r50-224-b8',
           'r18cifar-32-b256', '--variants', 'mmpretrain', 'ours', *SWITCHES, '--out', str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())['cases']


@pytest.mark.slow
@pytest.mark.parametrize('case', ['r50-224-b8', 'r18cifar-32-b256'])
def test_benchmark_baseline_is_the_same_network(case, benchmark_variants):
    """mmpretrain's SimSiam, as the benchmark builds it, has exactly our parameter shapes (same FLOPs, same math)."""
    variants = benchmark_variants[case]
    for name, scope in (('mmpretrain', 'mmpretrain'), ('ours', 'simsiam_mm')):  # mmpretrain.SimSiam vs ours
        assert variants[name]['scope'] == scope and variants[name]['model'].split('.')[0] == scope
    assert variants['mmpretrain']['param_shapes'] == variants['ours']['param_shapes']


@pytest.mark.slow
def test_benchmark_switches_change_one_setting_each(benchmark_variants):
    variants = benchmark_variants['r18cifar-32-b256']
    expected = {'+channels_last': ['model'], '+bf16': ['optim_wrapper'], '+foreach': ['optim_wrapper'],
                '+fused': ['optim_wrapper'], '+loader': [], '+compile': ['compile']}
    assert set(variants) >= set(SWITCHES) and variants['ours']['changed'] == []
    for switch in SWITCHES:
        assert variants[switch]['changed'] == expected[switch], switch  # +loader: only the benchmark's loader
