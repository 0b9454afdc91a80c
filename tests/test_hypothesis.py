"""The paper's Sec. 5.2 experiments (issue 24): the k-step alternation with cached targets (k = 1 is SimSiam's
step), the per-image moving-average memory (its formula), and the comparison methods coming from mmpretrain."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample

import simsiam_mm  # noqa: F401  (registers the modules)
from simsiam_mm.errors import ConfigError
from simsiam_mm.models import AlternatingSimSiam, MovingAverageSimSiam, NegativeCosineSimilarity
from simsiam_mm.registry import MODELS

from conftest import REPO, tiny_model_cfg

ABLATIONS = REPO / 'configs/simsiam/ablations'


@pytest.fixture(autouse=True)
def our_scope():
    """Build in our scope, whatever default scope an earlier test in this process left behind (the downstream
    benchmarks' tests leave mmseg's: in one process our types were then looked up in mmseg's registry)."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        yield


def twins(cls, **kwargs):
    """A tiny SimSiam and a ``cls`` with the same weights (train mode: batch statistics, as in training)."""
    torch.manual_seed(0)
    cfg = tiny_model_cfg(width=8, zero_init_residual=False)
    simsiam = MODELS.build(cfg).train()
    other = MODELS.build(dict(cfg, type=cls.__name__, **kwargs)).train()
    missing, unexpected = other.load_state_dict(simsiam.state_dict(), strict=False)
    assert all(k.startswith('head.predictor.') for k in unexpected) and set(missing) <= {'memory', 'seen'}
    return simsiam, other


def grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


# ---------------------------------------------------------------- multi-step alternation (Sec. 5.2)
def test_one_step_alternation_is_the_simsiam_step():
    simsiam, alternating = twins(AlternatingSimSiam)
    views = [torch.randn(6, 3, 8, 8), torch.randn(6, 3, 8, 8)]
    stats = {k: v.clone() for k, v in alternating.state_dict().items()}
    targets = alternating.compute_targets(views)  # one no-grad pass of the current network: 2xNxd
    assert targets.shape == (2, 6, 16) and not targets.requires_grad
    for k, v in alternating.state_dict().items():  # BN running statistics (and counters) untouched
        assert torch.equal(v, stats[k]), k
    ours = alternating.loss(views, None, targets=targets)
    default = simsiam.loss(views, None)
    ours['loss'].backward()
    default['loss'].backward()
    assert float(ours['loss']) == pytest.approx(float(default['loss']), abs=1e-6)
    g_ours, g_default = grads(alternating), grads(simsiam)
    assert g_ours.keys() == g_default.keys() and len(g_ours) > 20
    for name, g in g_default.items():
        torch.testing.assert_close(g_ours[name], g, rtol=1e-5, atol=1e-7, msg=name)
    assert float(ours['z_std_x_sqrt_d']) == pytest.approx(float(default['z_std_x_sqrt_d']), abs=1e-6)


def test_cached_targets_are_what_the_loss_uses():
    _, alternating = twins(AlternatingSimSiam)
    views = [torch.randn(6, 3, 8, 8), torch.randn(6, 3, 8, 8)]
    targets = alternating.compute_targets(views)
    fresh = float(alternating.loss(views, None, targets=targets)['loss'])
    stale = float(alternating.loss(views, None, targets=targets.roll(1, dims=1))['loss'])  # other images' η
    assert abs(stale - fresh) > 1e-4  # the targets enter the loss
    z1, z2 = (alternating.neck(alternating.backbone(x)) for x in views)
    D, h = NegativeCosineSimilarity(), alternating.head.predictor
    want = 0.5 * D(h(z1), targets[1]) + 0.5 * D(h(z2), targets[0])  # p1 -> η(x2), p2 -> η(x1)
    assert fresh == pytest.approx(float(want), abs=1e-5)


def test_a_batch_without_cached_targets_is_refused():
    _, alternating = twins(AlternatingSimSiam)
    with pytest.raises(ConfigError, match="AlternationLoop"):
        alternating.loss([torch.randn(4, 3, 8, 8)] * 2, None)


# ---------------------------------------------------------------- expectation over augmentations (Sec. 5.2)
def samples(indices: list[int]) -> list[DataSample]:
    return [DataSample(metainfo=dict(sample_idx=i)) for i in indices]


def test_moving_average_memory_follows_its_formula():
    m = 0.8
    _, model = twins(MovingAverageSimSiam, memory_size=10, momentum=m, head=dict(
        tiny_model_cfg()['head'], predictor=None))
    assert model.memory.shape == (10, 16) and not model.seen.any()
    index = [7, 2, 5, 0]
    unit = lambda x: F.normalize(model.neck(model.backbone(x)).detach(), dim=1)  # noqa: E731  (train mode)
    a1, a2 = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    out = model.loss([a1, a2], samples(index))
    z1, z2 = unit(a1), unit(a2)
    eta_1 = z2  # first visit: η = z̄2, then η <- m·η + (1 - m)·z̄2 = z̄2
    eta_2 = m * eta_1 + (1 - m) * z1
    torch.testing.assert_close(model.memory[index], eta_2, rtol=1e-5, atol=1e-6)
    D = NegativeCosineSimilarity()
    z1_raw, z2_raw = (model.neck(model.backbone(x)) for x in (a1, a2))
    assert float(out['loss']) == pytest.approx(float(0.5 * D(z1_raw, eta_1) + 0.5 * D(z2_raw, eta_2)), abs=1e-5)
    assert model.seen.nonzero().flatten().tolist() == sorted(index)
    assert not model.memory[[1, 3, 4, 6, 8, 9]].any()  # images not in the batch: untouched
    # a second visit: each update is m·η + (1 - m)·z̄ of the other view
    b1, b2 = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    model.loss([b1, b2], samples(index))
    eta_3 = m * eta_2 + (1 - m) * unit(b2)
    torch.testing.assert_close(model.memory[index], m * eta_3 + (1 - m) * unit(b1), rtol=1e-5, atol=1e-6)


def test_moving_average_memory_gets_no_gradient_and_names_bad_indices():
    _, model = twins(MovingAverageSimSiam, memory_size=4, head=dict(tiny_model_cfg()['head'], predictor=None))
    views = [torch.randn(3, 3, 8, 8), torch.randn(3, 3, 8, 8)]
    model.loss(views, samples([0, 1, 2]))['loss'].backward()
    assert not model.memory.requires_grad and model.backbone.conv1.weight.grad is not None
    with pytest.raises(ConfigError, match='memory_size'):
        model.loss(views, samples([0, 1, 4]))
    with pytest.raises(ConfigError, match='sample_idx'):
        model.loss(views, None)
    with pytest.raises(ConfigError, match='momentum'):
        twins(MovingAverageSimSiam, memory_size=4, momentum=1.0)


# ---------------------------------------------------------------- Table 4: the comparison methods
@pytest.mark.parametrize('row, algorithm, parts', [
    ('compare-simclr', 'SimCLR', ('NonLinearNeck', 'ContrastiveHead')),
    ('compare-mocov2', 'MoCo', ('MoCoV2Neck', 'ContrastiveHead')),
    ('compare-byol', 'BYOL', ('NonLinearNeck', 'LatentPredictHead')),
    ('compare-swav', 'SwAV', ('SwAVNeck', 'SwAVHead')),
])
def test_comparison_methods_come_from_mmpretrain_registry(row, algorithm, parts):
    model = Config.fromfile(str(ABLATIONS / f'{row}.py')).model
    assert model.type == f'mmpretrain.{algorithm}'
    assert algorithm not in MODELS.module_dict  # no copy registered in our scope
    for name in (algorithm, *parts):
        cls = MODELS.get(f'mmpretrain.{name}')
        assert cls is MMPRETRAIN_MODELS.get(name) and cls.__module__.startswith('mmpretrain.models.'), name
    model = {k: ({kk: vv for kk, vv in v.items() if kk != '_delete_'} if isinstance(v, dict) else v)
             for k, v in model.to_dict().items()}  # the delta's merge markers off
    built = MODELS.build(dict(model, data_preprocessor=None, neck=dict(model['neck'], in_channels=64),
                              backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8, stem_channels=8)))
    assert type(built) is MMPRETRAIN_MODELS.get(algorithm)
    assert type(built.neck).__name__ == parts[0] and type(built.head).__name__ == parts[1]
    assert type(built.neck).__module__.startswith('mmpretrain.models.')



# ---------------------------------------------------------------- Sec. 6.2: SimCLR with SimSiam's parts
def _simclr_with_predictor(stop_gradient: bool):
    from mmpretrain.models.selfsup.simclr import SimCLR

    from simsiam_mm.models import SimCLRWithPredictor
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='SimCLRWithPredictor', stop_gradient=stop_gradient,
        backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8, stem_channels=8),
        neck=dict(type='mmpretrain.NonLinearNeck', in_channels=64, hid_channels=32, out_channels=16, num_layers=2,
                  norm_cfg=dict(type='BN1d')),
        head=dict(type='mmpretrain.ContrastiveHead', loss=dict(type='mmpretrain.CrossEntropyLoss'), temperature=0.1),
        predictor=dict(type='SimSiamPredictor', in_channels=16, hid_channels=4, out_channels=16,
                       norm_cfg=dict(type='BN1d'))))
    assert type(model) is SimCLRWithPredictor and issubclass(SimCLRWithPredictor, SimCLR)  # mmpretrain's, extended
    assert SimCLR is MMPRETRAIN_MODELS.get('SimCLR') and 'SimCLR' not in MODELS.module_dict
    return model


@pytest.mark.parametrize('stop_gradient', [False, True])
def test_simclr_with_predictor_is_infonce_of_p_against_z(stop_gradient):
    """Sec. 6.2: the loss is InfoNCE (T = 0.1) of each view's p/‖p‖ against the 2N − 1 other keys z/‖z‖, the positive
    its image's other view; with stop-gradient no gradient reaches the backbone through the keys."""
    torch.manual_seed(1)
    views = [torch.randn(3, 3, 16, 16), torch.randn(3, 3, 16, 16)]
    model = _simclr_with_predictor(stop_gradient).train()
    loss = model.loss(views, None)['loss']
    grads = torch.autograd.grad(loss, list(model.backbone.parameters()))

    def by_hand(detach: bool) -> tuple[torch.Tensor, tuple]:
        reference = _simclr_with_predictor(stop_gradient).train()  # the same weights (same seed)
        x = torch.stack(views, 1).flatten(0, 1)  # 6 views: image i's are rows 2i, 2i + 1
        z = reference.neck(reference.backbone(x))[0]
        p = torch.nn.functional.normalize(reference.predictor(z), dim=1)
        k = torch.nn.functional.normalize(z, dim=1)
        k = k.detach() if detach else k
        terms = []
        for i in range(6):
            others = [j for j in range(6) if j != i]
            logits = torch.stack([p[i] @ k[j] for j in others]) / 0.1
            terms.append(torch.logsumexp(logits, 0) - logits[others.index(i ^ 1)])
        expected = torch.stack(terms).mean()
        return expected, torch.autograd.grad(expected, list(reference.backbone.parameters()))

    expected, expected_grads = by_hand(stop_gradient)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    for g, e in zip(grads, expected_grads):
        torch.testing.assert_close(g, e, rtol=1e-3, atol=1e-5)
    _, other_grads = by_hand(not stop_gradient)  # the switch matters: the keys' gradient is not negligible
    assert max((g - o).abs().max() for g, o in zip(grads, other_grads)) > 1e-3
    with pytest.raises(ConfigError, match='views per image'):
        model.loss(views * 2, None)

@pytest.mark.slow
def test_alternation_loop_with_one_step_trains_as_simsiam(cifar10_root, tmp_path):
    """Through the Runner: 2 iterations with AlternationLoop(steps=1) end at SimSiam's weights (same batches)."""
    from conftest import pretrain, tiny_pretrain_cfg
    weights = {}
    for name, model_type, loop in [('simsiam', 'SimSiam', dict(type='IterBasedTrainLoop', max_iters=2)),
                                   ('k1', 'AlternatingSimSiam', dict(type='AlternationLoop', steps=1, max_iters=2))]:
        cfg = tiny_pretrain_cfg(cifar10_root, tmp_path / name, backbone='tiny', iters=2, num_images=16)
        cfg.model.type, cfg.train_cfg = model_type, loop
        weights[name] = torch.load(pretrain(cfg), map_location='cpu', weights_only=False)['state_dict']
    assert weights['simsiam'].keys() == weights['k1'].keys()
    for key, value in weights['simsiam'].items():
        torch.testing.assert_close(weights['k1'][key], value, rtol=1e-5, atol=1e-6, msg=key)


# ---------------------------------------------------------------- Sec. 6.2: SwAV with SimSiam's parts
def _swav(**kwargs):
    """A tiny SwAV (mmpretrain's, or ours with ``kwargs``) from seed 0: the same weights for the same parts."""
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='mmpretrain.SwAV' if not kwargs else 'SwAVWithPredictor', **kwargs,
        backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8, stem_channels=8),
        neck=dict(type='mmpretrain.SwAVNeck', in_channels=64, hid_channels=32, out_channels=16, with_avg_pool=True),
        head=dict(type='mmpretrain.SwAVHead', loss=dict(type='mmpretrain.SwAVLoss', feat_dim=16, num_prototypes=20,
                                                        epsilon=0.05, temperature=0.1)))).train()


@pytest.mark.parametrize('n', [1, 3, 8])
def test_sinkhorn_equals_mmpretrains_and_gives_assignments(n):
    from mmpretrain.models.losses.swav_loss import distributed_sinkhorn

    from simsiam_mm.models.relations import sinkhorn
    scores = torch.nn.functional.normalize(torch.randn(n, 16), dim=1) @ torch.nn.functional.normalize(
        torch.randn(20, 16), dim=1).T
    q = sinkhorn(scores, 3, 0.05)
    torch.testing.assert_close(q, distributed_sinkhorn(scores, 3, 1, 0.05), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(q.sum(dim=1), torch.ones(n))  # each sample's codes are an assignment
    scores.requires_grad_(True)
    (g,) = torch.autograd.grad(sinkhorn(scores, 3, 0.05)[:, 0].sum(), scores)  # differentiable (no in-place steps)
    assert torch.isfinite(g).all()


def test_swav_with_identity_predictor_is_mmpretrains_swav():
    """With no predictor and stop-gradient, the loss and every gradient are mmpretrain's SwAV's (two views, no
    queue): our re-statement of the swapped prediction is SwAVLoss's."""
    from mmpretrain.models.selfsup.swav import SwAV

    from simsiam_mm.models import SwAVWithPredictor
    torch.manual_seed(1)
    views = [torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)]
    theirs, ours = _swav(), _swav(stop_gradient=True)
    assert type(theirs) is SwAV and type(ours) is SwAVWithPredictor and isinstance(ours, SwAV)
    loss, expected = ours.loss(views, None)['loss'], theirs.loss(views, None)['loss']
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    grads = torch.autograd.grad(loss, list(ours.parameters()))
    expected_grads = torch.autograd.grad(expected, list(theirs.parameters()))
    for g, e in zip(grads, expected_grads):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)


def test_swav_predictor_predicts_codes_of_z_and_stop_gradient_matters():
    """With h: the codes are Sinkhorn of z's scores (constants), the predictions softmax of p = h(z)'s scores / T;
    removing stop-gradient sends gradient through Sinkhorn-Knopp and changes the backbone's gradient."""
    from mmpretrain.models.losses.swav_loss import distributed_sinkhorn
    torch.manual_seed(1)
    views = [torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)]
    predictor = dict(type='SimSiamPredictor', in_channels=16, hid_channels=4, out_channels=16,
                     norm_cfg=dict(type='BN1d'))
    model = _swav(predictor=predictor)
    loss = model.loss(views, None)['loss']
    reference = _swav(predictor=predictor)  # by hand, on the same weights
    swav = reference.head.loss_module
    with torch.no_grad():
        swav.prototypes.weight.copy_(torch.nn.functional.normalize(swav.prototypes.weight, dim=1))
    z = reference.neck([reference.backbone(torch.cat(views))])
    p = torch.nn.functional.normalize(reference.predictor(z), dim=1)
    q = [distributed_sinkhorn(swav.prototypes(z[i * 4:(i + 1) * 4]).detach(), 3, 1, 0.05) for i in (0, 1)]
    log_p = [torch.log_softmax(swav.prototypes(p[i * 4:(i + 1) * 4]) / 0.1, dim=1) for i in (0, 1)]
    expected = -((q[0] * log_p[1]).sum(1).mean() + (q[1] * log_p[0]).sum(1).mean()) / 2
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    with_sg = torch.autograd.grad(loss, list(model.backbone.parameters()))
    free = _swav(predictor=predictor, stop_gradient=False)
    without_sg = torch.autograd.grad(free.loss(views, None)['loss'], list(free.backbone.parameters()))
    assert max((a - b).abs().max() for a, b in zip(with_sg, without_sg)) > 1e-4


def test_swav_with_predictor_refuses_a_queue_and_other_view_counts():
    model = _swav(predictor=None, stop_gradient=True)
    with pytest.raises(ConfigError, match='takes 2'):
        model.loss([torch.randn(2, 3, 16, 16)] * 3, None)
    model.head.loss_module.queue = torch.zeros(2, 8, 16)  # what SwAVHook sets with queue_length > 0
    with pytest.raises(ConfigError, match="queue_length=0"):
        model.loss([torch.randn(2, 3, 16, 16)] * 2, None)
