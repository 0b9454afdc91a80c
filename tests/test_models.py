"""Properties of the SimSiam parts: shapes, loss range and symmetry, stop-gradient, architecture, ablation switches."""
import math

import pytest
import torch
from torch import nn

import simsiam_mm  # noqa: F401  (registers the modules)
from simsiam_mm.models import NegativeCosineSimilarity, SimSiamPredictor, SimSiamProjector, collapse_std

from conftest import tiny_head, tiny_simsiam

BN1D = dict(type='BN1d')


# ---------------------------------------------------------------- the similarity D and the collapse diagnostic
@pytest.mark.parametrize('n', [2, 3, 17, 64])
def test_negative_cosine_range_and_extremes(n):
    D = NegativeCosineSimilarity()
    p, z = torch.randn(n, 32), torch.randn(n, 32)
    assert -1.0 <= float(D(p, z)) <= 1.0
    assert float(D(p, p)) == pytest.approx(-1.0, abs=1e-6)  # same direction
    assert float(D(p, -p)) == pytest.approx(1.0, abs=1e-6)  # opposite direction
    assert float(D(3.0 * p, 0.5 * z)) == pytest.approx(float(D(p, z)), abs=1e-6)  # scale invariant
    assert float(D(p, z)) == pytest.approx(float(D(z, p)), abs=1e-6)  # D itself is symmetric


@pytest.mark.parametrize('d', [64, 512, 2048])
def test_collapse_std_healthy_and_collapsed(d):
    torch.manual_seed(0)
    assert float(collapse_std(torch.randn(4096, d))) * math.sqrt(d) == pytest.approx(1.0, abs=0.05)
    constant = torch.randn(1, d).expand(256, d)
    assert float(collapse_std(constant)) == pytest.approx(0.0, abs=1e-6)
    assert not collapse_std(torch.randn(8, d, requires_grad=True)).requires_grad


# ---------------------------------------------------------------- architecture
@pytest.mark.parametrize('num_layers', [2, 3])
def test_projector_matches_the_paper(num_layers):
    f = SimSiamProjector(in_channels=64, hid_channels=32, out_channels=16, num_layers=num_layers, norm_cfg=BN1D)
    fcs = [m for m in f.mlp if isinstance(m, nn.Linear)]
    bns = [m for m in f.mlp if isinstance(m, nn.BatchNorm1d)]
    relus = [m for m in f.mlp if isinstance(m, nn.ReLU)]
    assert len(fcs) == len(bns) == num_layers and len(relus) == num_layers - 1  # BN after every fc
    assert all(fc.bias is None for fc in fcs)  # no bias before BN
    assert [bn.affine for bn in bns] == [True] * (num_layers - 1) + [False]  # output BN affine=False
    assert isinstance(f.mlp[-1], nn.BatchNorm1d)  # no ReLU after the output
    assert [fc.in_features for fc in fcs] == [64] + [32] * (num_layers - 1)
    assert fcs[-1].out_features == 16


def test_imagenet_projector_and_predictor_dimensions():
    f = SimSiamProjector(norm_cfg=BN1D)
    h = SimSiamPredictor(norm_cfg=BN1D)
    assert [(m.in_features, m.out_features) for m in f.mlp if isinstance(m, nn.Linear)] == [(2048, 2048)] * 3
    # BN+ReLU on the hidden fc only; the output fc has no BN (Identity keeps the official layer indices)
    assert [type(m) for m in h.mlp] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.Identity]
    assert (h.mlp[0].in_features, h.mlp[0].out_features, h.mlp[3].out_features) == (2048, 512, 2048)
    assert h.mlp[0].bias is None and h.mlp[3].bias is not None


@pytest.mark.parametrize('n', [2, 5, 16])
def test_shapes_over_batch_sizes(n):
    model = tiny_simsiam()
    x1, x2 = torch.randn(n, 3, 32, 32), torch.randn(n, 3, 32, 32)
    feats = model.extract_feat(x1)
    assert feats[-1].shape == (n, 512, 4, 4)
    z = model.neck(feats)
    assert z.shape == (n, 16)
    assert model.head.predictor(z).shape == (n, 16)
    losses = model.loss([x1, x2], None)
    assert set(losses) == {'loss', 'z_std', 'z_std_x_sqrt_d'} and losses['loss'].shape == ()
    assert float(losses['z_std_x_sqrt_d']) == pytest.approx(float(losses['z_std']) * math.sqrt(16))


def test_backbone_keys_start_with_backbone_prefix():
    keys = tiny_simsiam().state_dict().keys()
    assert {k.split('.')[0] for k in keys} == {'backbone', 'neck', 'head'}
    assert 'backbone.conv1.weight' in keys and 'head.predictor.mlp.0.weight' in keys


# ---------------------------------------------------------------- loss: symmetry and stop-gradient
@pytest.mark.parametrize('n', [2, 8, 33])
def test_symmetric_loss_is_symmetric_in_views_and_bounded(n):
    head = tiny_head().eval()  # eval: BN uses running stats, so both calls see the same predictor
    z1, z2 = torch.randn(n, 16), torch.randn(n, 16)
    l12, l21 = head.loss(z1, z2)['loss'], head.loss(z2, z1)['loss']
    assert float(l12) == pytest.approx(float(l21), abs=1e-6)
    assert -1.0 <= float(l12) <= 1.0
    asym = tiny_head(symmetric=False).eval()
    asym.load_state_dict(head.state_dict())
    assert float(asym.loss(z1, z2)['loss']) != pytest.approx(float(asym.loss(z2, z1)['loss']), abs=1e-6)


def test_stop_gradient_blocks_the_target_branch():
    """Asymmetric D(p1, stopgrad(z2)): with stop-gradient z2 gets no gradient; without it, it does."""
    z1, z2 = torch.randn(8, 16, requires_grad=True), torch.randn(8, 16, requires_grad=True)
    tiny_head(symmetric=False).loss(z1, z2)['loss'].backward()
    assert z2.grad is None and z1.grad is not None and z1.grad.abs().sum() > 0

    z1, z2 = torch.randn(8, 16, requires_grad=True), torch.randn(8, 16, requires_grad=True)
    tiny_head(symmetric=False, stop_gradient=False).loss(z1, z2)['loss'].backward()
    assert z2.grad is not None and z2.grad.abs().sum() > 0


def test_symmetric_stop_gradient_keeps_only_the_predictor_path():
    """With the symmetric loss, z2's gradient is exactly that of ½·D(h(z2), stopgrad(z1))."""
    torch.manual_seed(0)
    head = tiny_head().eval()
    z1, z2 = torch.randn(8, 16), torch.randn(8, 16, requires_grad=True)
    head.loss(z1, z2)['loss'].backward()
    expected, = torch.autograd.grad(0.5 * head.criterion(head.predictor(z2), z1), z2)
    torch.testing.assert_close(z2.grad, expected)

    head_nosg = tiny_head(stop_gradient=False).eval()
    head_nosg.load_state_dict(head.state_dict())
    z2b = z2.detach().clone().requires_grad_(True)
    head_nosg.loss(z1, z2b)['loss'].backward()
    assert (z2b.grad - expected).abs().max() > 1e-6  # the target branch now receives gradient too


# ---------------------------------------------------------------- ablation switches (paper Table 1)
def test_no_predictor_is_identity():
    head = tiny_head(predictor=None)
    assert isinstance(head.predictor, nn.Identity)
    z = torch.randn(4, 16)
    assert float(head.loss(z, z)['loss']) == pytest.approx(-1.0, abs=1e-6)


def test_frozen_predictor_stays_at_init_after_a_training_step():
    model = tiny_simsiam(freeze_predictor=True)
    before = {k: v.clone() for k, v in model.head.predictor.state_dict().items() if 'running' not in k
              and 'num_batches' not in k}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.loss([torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)], None)['loss'].backward()
    opt.step()
    assert all(not p.requires_grad for p in model.head.predictor.parameters())
    for k, v in model.head.predictor.state_dict().items():
        if k in before:
            torch.testing.assert_close(v, before[k])
    assert model.backbone.conv1.weight.grad is not None
