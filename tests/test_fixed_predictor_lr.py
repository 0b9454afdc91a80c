"""The predictor keeps the scaled base lr, undecayed, while every other group follows the cosine schedule;
also when ``auto_scale_lr`` rescales the lr (where mmpretrain's SimSiamHook resets it to the unscaled literal)."""
import math

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.optim import build_optim_wrapper
from mmengine.optim.scheduler import CosineAnnealingLR
from mmengine.registry import DefaultScope

import simsiam_mm  # noqa: F401
from simsiam_mm.errors import ConfigError
from simsiam_mm.registry import HOOKS

from conftest import pretrain, tiny_pretrain_cfg, tiny_simsiam


@pytest.fixture(autouse=True)
def simsiam_scope():
    """Build in our registry scope, as a config's ``default_scope='simsiam_mm'`` does under the Runner."""
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        yield


def test_constructor_puts_every_parameter_in_exactly_one_group():
    model = tiny_simsiam()
    ow = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
                                         constructor='SimSiamOptimWrapperConstructor'))
    groups = ow.optimizer.param_groups
    ids = [id(p) for g in groups for p in g['params']]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    fixed = [g for g in groups if g.get('fixed_lr')]
    assert len(fixed) == 1
    assert {id(p) for p in fixed[0]['params']} == {id(p) for p in model.head.predictor.parameters()}
    assert fixed[0]['weight_decay'] == 1e-4 and fixed[0]['momentum'] == 0.9  # same SGD settings otherwise


def test_schedulers_never_move_the_lr_used_by_the_predictor_step():
    model = tiny_simsiam()
    ow = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.1),
                                         constructor='SimSiamOptimWrapperConstructor'))
    opt = ow.optimizer
    sched = CosineAnnealingLR(opt, T_max=10, by_epoch=False)
    for step in range(10):
        model.loss([torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)], None)['loss'].backward()
        ow.step()
        ow.zero_grad()
        lrs = [g['lr'] for g in opt.param_groups]
        assert lrs[-1] == pytest.approx(0.1)  # the step just taken used the fixed lr
        assert lrs[0] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * step / 10)))  # cosine for the rest
        sched.step()


def test_fixed_lr_module_none_lets_the_predictor_follow_the_schedule():
    model = tiny_simsiam()
    ow = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.1),
                                         constructor='SimSiamOptimWrapperConstructor',
                                         paramwise_cfg=dict(fixed_lr_module=None)))
    assert not any(g.get('fixed_lr') for g in ow.optimizer.param_groups)


def test_unknown_fixed_lr_module_names_the_key():
    with pytest.raises(ConfigError, match='fixed_lr_module=.*head.nope'):
        build_optim_wrapper(tiny_simsiam(), dict(optimizer=dict(type='SGD', lr=0.1),
                                                 constructor='SimSiamOptimWrapperConstructor',
                                                 paramwise_cfg=dict(fixed_lr_module='head.nope')))


@HOOKS.register_module(force=True)
class _RecordStepLr(Hook):
    """Records each group's lr as used by the optimizer step (before ParamSchedulerHook moves it)."""
    priority = 'NORMAL'
    records: list = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        groups = runner.optim_wrapper.optimizer.param_groups
        _RecordStepLr.records.append(([g['lr'] for g in groups if not g.get('fixed_lr')],
                                      [g['lr'] for g in groups if g.get('fixed_lr')]))


@pytest.mark.slow  # trains with the Runner
@pytest.mark.parametrize('auto_scale', [False, True])
def test_runner_predictor_lr_fixed_and_scaled(cifar10_root, tmp_path, auto_scale):
    iters, batch = 5, 4
    cfg = tiny_pretrain_cfg(cifar10_root, tmp_path, iters=iters, batch_size=batch, image_size=16)
    base_lr = cfg.optim_wrapper.optimizer.lr
    cfg.auto_scale_lr = dict(base_batch_size=256, enable=auto_scale)
    cfg.custom_hooks = cfg.custom_hooks + [dict(type='_RecordStepLr')]
    _RecordStepLr.records = []
    pretrain(cfg)

    scaled = base_lr * batch / 256 if auto_scale else base_lr
    assert len(_RecordStepLr.records) == iters
    for t, (rest, fixed) in enumerate(_RecordStepLr.records):
        assert fixed == [pytest.approx(scaled, rel=1e-9)]  # predictor: the scaled base lr, every step
        cosine = scaled * 0.5 * (1 + math.cos(math.pi * t / iters))
        assert rest and all(lr == pytest.approx(cosine, rel=1e-9) for lr in rest)
    if auto_scale:  # mmpretrain's SimSiamHook(lr=<config literal>) would have pinned the unscaled base_lr here
        assert _RecordStepLr.records[-1][1][0] != pytest.approx(base_lr)
