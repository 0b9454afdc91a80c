"""Model zoo: publishing, verification and conversions keep every weight (and every output) across format borders.

The official architecture is rebuilt here from torchvision and the heads of facebookresearch/simsiam's builder.py,
independently of the converters under test.
"""
import hashlib
import pickle
import re
import subprocess
from functools import partial
from pathlib import Path

import pytest
import torch
import torchvision
import yaml
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import load_checkpoint
from mmpretrain.models import ResNet
from torch import nn

from simsiam_mm.checkpoint import read_checkpoint, save_atomic, serialize
from simsiam_mm.errors import CheckpointError
from simsiam_mm.zoo import (
    ConversionError,
    VerificationError,
    build_model,
    convert_detectron2_file,
    convert_official_file,
    convert_to_official_file,
    convert_torchvision_file,
    extract_backbone_file,
    infer_model_cfg,
    official_to_simsiam_mm,
    publish_checkpoint,
    simsiam_mm_to_detectron2,
    simsiam_mm_to_official,
    simsiam_mm_to_torchvision,
    torchvision_resnet,
    verify_published,
)

from conftest import QUICK_CONFIG, REPO, pretrain, run_python_tool, tiny_model_cfg, tiny_pretrain_cfg, tiny_sizes

DIM, HID, PRED = 32, 64, 8  # tiny projector/predictor widths


def converter(name: str, *args) -> subprocess.CompletedProcess:
    """``python tools/model_converters/<name>.py ARGS``, as a user runs it."""
    return run_python_tool([REPO / 'tools/model_converters' / f'{name}.py', *args], timeout=300)  # (conftest)


# the zoo's SimSiam: ImageNet ResNet-18 (or -50, or CIFAR), 3-layer projector 512 -> 64 -> 32, predictor 32 -> 8 -> 32
zoo_model_cfg = partial(tiny_model_cfg, dim=DIM, hid=HID, pred=PRED, cifar=False, num_layers=3)


@torch.no_grad()
def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN affines, statistics and biases (conv/fc weights already have a random init), so that identity and
    equal outputs mean something."""
    g = torch.Generator().manual_seed(seed)
    for name, t in model.state_dict().items():
        if name.endswith('num_batches_tracked'):
            t.fill_(int(torch.randint(1, 100, (1,), generator=g)))
        elif name.endswith('running_var') or (t.dim() == 1 and name.endswith('.weight')):
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
        elif t.dim() == 1:  # BN bias / running_mean, fc bias
            t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return model


@torch.no_grad()
def calibrate_bn_(model: nn.Module, forward, x: torch.Tensor) -> nn.Module:
    """Set every BN's running statistics to those of ``forward(x)`` (so eval-mode activations stay O(1)); eval."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one batch gives exactly its statistics
    model.train()
    forward(x)
    return model.eval()


class OfficialSimSiam(nn.Module):
    """facebookresearch/simsiam builder.py, with torchvision's ResNet as base_encoder (tiny widths)."""

    def __init__(self, depth: int = 18, dim: int = DIM, hid: int = HID, pred_dim: int = PRED) -> None:
        super().__init__()
        self.encoder = getattr(torchvision.models, f'resnet{depth}')(num_classes=dim, zero_init_residual=True)
        prev_dim = self.encoder.fc.weight.shape[1]  # builder.py uses hid = prev_dim, fc[6] = encoder.fc
        self.encoder.fc = nn.Sequential(nn.Linear(prev_dim, hid, bias=False), nn.BatchNorm1d(hid), nn.ReLU(True),
                                        nn.Linear(hid, hid, bias=False), nn.BatchNorm1d(hid), nn.ReLU(True),
                                        nn.Linear(hid, dim),  # = the ResNet's own fc when hid = prev_dim: a bias
                                        nn.BatchNorm1d(dim, affine=False))
        self.predictor = nn.Sequential(nn.Linear(dim, pred_dim, bias=False), nn.BatchNorm1d(pred_dim),
                                       nn.ReLU(True), nn.Linear(pred_dim, dim))


def official_state_dict(model: OfficialSimSiam) -> dict[str, torch.Tensor]:
    return {'module.' + k: v for k, v in model.state_dict().items()}  # saved from DistributedDataParallel


def ours_outputs(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    z = model.neck(model.backbone(x))
    return z, model.head.predictor(z)


# ---------------------------------------------------------------- official <-> ours

@pytest.mark.parametrize('cifar,num_layers', [(False, 3), (True, 2)])
def test_ours_to_official_to_ours_is_identity(cifar, num_layers):
    ours = randomize_(build_model(zoo_model_cfg(cifar=cifar, num_layers=num_layers))).state_dict()
    official, report = simsiam_mm_to_official(ours)
    assert len(report.converted) == len(ours) and not report.unexpected
    last_fc = 3 * (num_layers - 1)
    assert torch.equal(official[f'module.encoder.fc.{last_fc}.bias'], torch.zeros(DIM))
    if not cifar:  # the key set is exactly the official architecture's
        assert set(official) == set(official_state_dict(OfficialSimSiam()))
    back, _ = official_to_simsiam_mm(official)
    assert set(back) == set(ours)
    assert all(torch.equal(back[k], ours[k]) for k in ours)


@torch.no_grad()
def test_official_to_ours_matches_official_forward():
    official = randomize_(OfficialSimSiam(), seed=1)
    x = torch.randn(8, 3, 32, 32)
    calibrate_bn_(official, lambda x: official.predictor(official.encoder(x)), x)
    bias = official.encoder.fc[6].bias
    assert bias.abs().min() > 0  # the frozen bias is not zero in official checkpoints
    ours_sd, report = official_to_simsiam_mm(official_state_dict(official))
    assert [k for k, _ in report.skipped] == ['module.encoder.fc.6.bias']
    ours = build_model(infer_model_cfg(ours_sd, 'converted'))
    ours.load_state_dict(ours_sd, strict=True)
    ours.eval()
    z_official = official.encoder(x)
    p_official = official.predictor(z_official)
    z, p = ours_outputs(ours, x)
    assert (z - z_official).abs().max() < 1e-5
    assert (p - p_official).abs().max() < 1e-5
    # the fold is what makes them equal: without it the projection is off by bias / sqrt(var + eps)
    ours.neck.mlp[7].running_mean += bias
    assert (ours_outputs(ours, x)[0] - z_official).abs().max() > 1e-2


def test_official_fold_shape_mismatch_and_unexpected_keys_fail():
    sd = official_state_dict(OfficialSimSiam())
    bad = dict(sd, **{'module.encoder.fc.6.bias': torch.zeros(DIM + 1)})
    with pytest.raises(ConversionError, match=r'shape mismatch for module\.encoder\.fc\.6\.bias'):
        official_to_simsiam_mm(bad, 'ckpt.pth.tar')
    with pytest.raises(ConversionError, match=r'ckpt\.pth\.tar: 1 key\(s\).*module\.queue'):
        official_to_simsiam_mm(dict(sd, **{'module.queue': torch.zeros(1)}), 'ckpt.pth.tar')
    converted, report = official_to_simsiam_mm(dict(sd, **{'module.queue': torch.zeros(1)}), allow_unexpected=True)
    assert report.unexpected == ['module.queue'] and 'module.queue' not in converted


def test_official_files_round_trip(tmp_path):
    official = randomize_(OfficialSimSiam(), seed=2)
    src = tmp_path / 'checkpoint_0099.pth.tar'
    torch.save(dict(epoch=100, arch='resnet18', state_dict=official_state_dict(official), optimizer={}), src)
    ours, report = convert_official_file(src)
    assert ours['meta']['epoch'] == 100 and report.summary().startswith('[official -> simsiam_mm] converted: ')
    save_atomic(ours, tmp_path / 'ours.pth')
    back, _ = convert_to_official_file(tmp_path / 'ours.pth')
    assert back['arch'] == 'resnet18' and back['epoch'] == 100
    assert set(back['state_dict']) == set(official_state_dict(official))


# ---------------------------------------------------------------- torchvision

@torch.no_grad()
def test_torchvision_resnet50_loads_strictly_and_gives_identical_features():
    x = torch.randn(2, 3, 32, 32)
    ours = randomize_(build_model(zoo_model_cfg(depth=50)), seed=3)
    calibrate_bn_(ours, ours.backbone, x)
    tv_sd, report = simsiam_mm_to_torchvision(ours.state_dict(), num_classes=10)
    assert len(report.converted) == len([k for k in ours.state_dict() if k.startswith('backbone.')])
    assert {k for k, _ in report.added} == {'fc.weight', 'fc.bias'}
    tv = torchvision.models.resnet50(num_classes=10)
    tv.load_state_dict(tv_sd, strict=True)
    tv.eval()
    trunk = nn.Sequential(*list(tv.children())[:-2])  # up to layer4
    assert (trunk(x) - ours.backbone(x)[-1]).abs().max() < 1e-5
    headless, _ = simsiam_mm_to_torchvision(ours.state_dict(), with_fc=False)
    tv.fc = nn.Identity()  # strict loading still passes: pooled 2048-d features
    tv.load_state_dict(headless, strict=True)
    assert (tv(x) - ours.backbone(x)[-1].mean((2, 3))).abs().max() < 1e-5


@torch.no_grad()
def test_cifar_stem_is_refused_for_torchvision_unless_asked():
    x = torch.randn(4, 3, 32, 32)
    ours = randomize_(build_model(zoo_model_cfg(cifar=True, num_layers=2)), seed=4)
    calibrate_bn_(ours, ours.backbone, x)
    with pytest.raises(ConversionError, match=r'r18c\.pth: backbone\.conv1\.weight is 3x3.*--cifar-stem'):
        simsiam_mm_to_torchvision(ours.state_dict(), 'r18c.pth')
    with pytest.raises(ConversionError, match='3x3'):
        simsiam_mm_to_detectron2(ours.state_dict(), 'r18c.pth')
    tv_sd, _ = simsiam_mm_to_torchvision(ours.state_dict(), allow_cifar_stem=True)
    tv = torchvision_resnet(18, cifar_stem=True)
    tv.load_state_dict(tv_sd, strict=True)
    tv.eval()
    assert (nn.Sequential(*list(tv.children())[:-2])(x) - ours.backbone(x)[-1]).abs().max() < 1e-5


def test_torchvision_shape_mismatch_and_unexpected_backbone_keys_fail():
    sd = build_model(zoo_model_cfg()).state_dict()
    bad = dict(sd, **{'backbone.layer1.0.conv1.weight': torch.zeros(64, 64, 1, 1)})
    with pytest.raises(ConversionError,
                       match=r'shape mismatch for backbone\.layer1\.0\.conv1\.weight: \(64, 64, 1, 1\)'):
        simsiam_mm_to_torchvision(bad, 'bad.pth')
    with pytest.raises(ConversionError, match=r'backbone\.extra\.weight'):
        simsiam_mm_to_torchvision(dict(sd, **{'backbone.extra.weight': torch.zeros(1)}), 'bad.pth')


# ---------------------------------------------------------------- detectron2

def test_detectron2_keys_and_shapes(tmp_path):
    sd = randomize_(build_model(zoo_model_cfg(depth=50)), seed=5).state_dict()
    src = tmp_path / 'r50.pth'
    torch.save(dict(state_dict=sd), src)
    d2, report = convert_detectron2_file(src)
    d2 = pickle.loads(pickle.dumps(d2))  # what the .pkl holds
    assert d2['matching_heuristics'] is True and d2['__author__'] == 'simsiam_mm'
    model = d2['model']
    backbone = {k[len('backbone.'):]: v for k, v in sd.items() if k.startswith('backbone.')}
    tracked = [k for k in backbone if k.endswith('num_batches_tracked')]
    assert len(model) == len(backbone) - len(tracked) == len(report.converted)
    assert len(report.skipped) == len(tracked) + len([k for k in sd if not k.startswith('backbone.')])
    assert all(re.match(r'(stem|res[2-5])\.', k) for k in model)
    assert not any(s in k for k in model for s in ('layer', 'downsample', '.bn', 'num_batches_tracked'))
    expected = {  # detectron2 name: (our name, shape)
        'stem.conv1.weight': ('conv1.weight', (64, 3, 7, 7)),
        'stem.conv1.norm.running_var': ('bn1.running_var', (64,)),
        'res2.0.shortcut.weight': ('layer1.0.downsample.0.weight', (256, 64, 1, 1)),
        'res2.0.shortcut.norm.bias': ('layer1.0.downsample.1.bias', (256,)),
        'res4.5.conv2.weight': ('layer3.5.conv2.weight', (256, 256, 3, 3)),
        'res5.2.conv3.norm.weight': ('layer4.2.bn3.weight', (2048,)),
    }
    for d2_key, (key, shape) in expected.items():
        assert model[d2_key].shape == shape
        assert (model[d2_key] == backbone[key].numpy()).all()
    # res4: 6 blocks x 3 convs, each a weight + 4 norm tensors; one shortcut (weight + 4 norm tensors)
    assert sum(k.startswith('res4.') for k in model) == 6 * 3 * (1 + 4) + (1 + 4)


# ---------------------------------------------------------------- backbone-only inputs

def test_checkpoint_without_backbone_keys_is_refused(tmp_path):
    sd = build_model(zoo_model_cfg()).state_dict()
    headless = tmp_path / 'headless.pth'
    torch.save(dict(state_dict={k: v for k, v in sd.items() if not k.startswith('backbone.')}), headless)
    for convert in (extract_backbone_file, convert_torchvision_file, convert_detectron2_file, convert_to_official_file):
        with pytest.raises(ConversionError, match=rf'{re.escape(str(headless))}: no backbone keys'):
            convert(headless)
    official_headless = tmp_path / 'official_headless.pth.tar'
    torch.save(dict(state_dict={k: v for k, v in official_state_dict(OfficialSimSiam()).items()
                                if k.startswith('module.predictor.')}), official_headless)
    with pytest.raises(ConversionError, match='no backbone keys'):
        convert_official_file(official_headless)


def test_extract_backbone_with_and_without_prefix(tmp_path):
    sd = build_model(zoo_model_cfg()).state_dict()
    src = tmp_path / 'full.pth'
    torch.save(dict(meta=dict(epoch=3), state_dict=sd), src)
    kept, report = extract_backbone_file(src)
    assert set(kept['state_dict']) == {k for k in sd if k.startswith('backbone.')}
    assert len(report.skipped) == len(sd) - len(kept['state_dict'])
    bare, _ = extract_backbone_file(src, strip_prefix=True)
    assert set(bare['state_dict']) == {k[len('backbone.'):] for k in kept['state_dict']}
    save_atomic(bare, tmp_path / 'bare.pth')
    tv_sd, _ = convert_torchvision_file(tmp_path / 'bare.pth')  # converters accept an extracted backbone too
    torchvision.models.resnet18().load_state_dict(tv_sd, strict=True)
    save_atomic(kept, tmp_path / 'prefixed.pth')  # what mmdet/mmseg configs load with prefix='backbone.'
    resnet = ResNet(depth=18, init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'prefixed.pth'),
                                            prefix='backbone.'))
    resnet.init_weights()
    assert all(torch.equal(resnet.state_dict()[k[len('backbone.'):]], v) for k, v in kept['state_dict'].items())


@pytest.mark.slow
def test_command_lines_print_counts_and_name_the_bad_file(tmp_path):
    src = tmp_path / 'full.pth'
    torch.save(dict(state_dict=build_model(zoo_model_cfg()).state_dict()), src)
    runs = [('extract_backbone_weights', [src, tmp_path / 'b.pth'], 'extract backbone'),
            ('simsiam_mm_to_torchvision', [tmp_path / 'b.pth', tmp_path / 'tv.pth'], 'simsiam_mm -> torchvision'),
            ('simsiam_mm_to_detectron2', [src, tmp_path / 'd2.pkl'], 'simsiam_mm -> detectron2'),
            ('simsiam_mm_to_official', [src, tmp_path / 'official.pth.tar'], 'simsiam_mm -> official'),
            ('official_to_simsiam_mm', [tmp_path / 'official.pth.tar', tmp_path / 'back.pth'],
             'official -> simsiam_mm')]
    for tool, args, name in runs:
        proc = converter(tool, *args)
        assert proc.returncode == 0, f'{name}: {proc.stderr[-2000:]}'
        assert re.search(rf'\[{name}\] converted: \d+, skipped: \d+, unexpected: 0, added: \d+', proc.stdout)
    torchvision.models.resnet18().load_state_dict(torch.load(tmp_path / 'tv.pth', weights_only=True), strict=True)
    assert pickle.loads((tmp_path / 'd2.pkl').read_bytes())['matching_heuristics'] is True
    torch.save(dict(state_dict={'neck.mlp.0.weight': torch.zeros(2, 2)}), tmp_path / 'neck_only.pth')
    proc = converter('simsiam_mm_to_torchvision', tmp_path / 'neck_only.pth', tmp_path / 'x.pth')
    assert proc.returncode == 1
    # the shared error boundary's format (issue 23): '<tool>: error: <culprit>: ...', one line, no traceback
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f'simsiam_mm_to_torchvision.py: error: {tmp_path / "neck_only.pth"}: no backbone keys'), proc.stderr
    assert 'Traceback' not in proc.stderr and not (tmp_path / 'x.pth').exists()
    proc = converter('simsiam_mm_to_torchvision', tmp_path / 'neck_only.pth', tmp_path / 'x.pth', '--debug')
    assert proc.returncode == 1 and 'Traceback' in proc.stderr  # --debug shows where it failed

    # publish_model --verify: a truncated published file is reported, naming the file, with exit status 1
    training_checkpoint(tmp_path / 'epoch_1.pth')
    good = publish_checkpoint(tmp_path / 'epoch_1.pth', tmp_path / 'm.pth').path
    truncated = tmp_path / 'truncated' / good.name
    truncated.parent.mkdir()
    truncated.write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    proc = converter('publish_model', '--verify', truncated)
    assert proc.returncode == 1 and str(truncated) in proc.stderr


# ---------------------------------------------------------------- publish / verify

def small_quick_cfg() -> Config:
    """The quick CIFAR config with tiny projector/predictor widths (a lighter file, same structure)."""
    cfg = Config.fromfile(str(QUICK_CONFIG))
    cfg.merge_from_dict(dict(model=tiny_sizes(width=64, dim=DIM, hid=HID, pred=PRED)))  # the real ResNet-18-CIFAR
    return cfg


def training_checkpoint(path: Path, cfg: Config | None = None) -> dict:
    """An mmengine-style training checkpoint with the state a resume needs (incl. a HistoryBuffer)."""
    cfg = cfg or small_quick_cfg()
    hub = MessageHub.get_instance('test_model_zoo')
    hub.update_scalar('train/loss', -0.5)
    ckpt = dict(meta=dict(cfg=cfg.pretty_text, epoch=1, iter=8, seed=0, experiment_name='zoo'),
                state_dict=build_model(cfg.model).state_dict(), optimizer=dict(state={}, param_groups=[]),
                param_schedulers=[dict(last_epoch=1)], message_hub=hub.state_dict())
    torch.save(ckpt, path)
    return ckpt


def test_publish_strips_training_state_and_verifies(tmp_path):
    ckpt = training_checkpoint(tmp_path / 'epoch_1.pth')
    result = publish_checkpoint(tmp_path / 'epoch_1.pth', tmp_path / 'zoo' / 'simsiam_quick.pth')
    name = re.fullmatch(r'simsiam_quick-([0-9a-f]{8})\.pth', result.path.name)
    assert name and name.group(1) == hashlib.sha256(result.path.read_bytes()).hexdigest()[:8]
    assert result.dropped == ['message_hub', 'optimizer', 'param_schedulers']
    assert [p.name for p in (tmp_path / 'zoo').iterdir()] == [result.path.name]  # no temporary file left
    published = torch.load(result.path, weights_only=True)
    assert set(published) == {'meta', 'state_dict'}
    meta = published['meta']
    assert meta['cfg'] == ckpt['meta']['cfg'] and (meta['epoch'], meta['iter']) == (1, 8)
    assert {'mmengine_version', 'mmpretrain_version', 'simsiam_mm_version'} <= set(meta)
    assert all(torch.equal(published['state_dict'][k], v) for k, v in ckpt['state_dict'].items())
    again = publish_checkpoint(tmp_path / 'epoch_1.pth', tmp_path / 'zoo' / 'simsiam_quick.pth')
    assert again.path == result.path  # same content, same name

    verified = verify_published(result.path)
    assert verified.num_tensors == len(ckpt['state_dict']) and verified.meta['epoch'] == 1
    model = build_model(Config.fromstring(meta['cfg'], '.py').model)  # mmengine (and mmdet's Pretrained) load it
    load_checkpoint(model, str(result.path), strict=True)


def test_verify_rejects_corrupted_truncated_and_mismatched_files(tmp_path):
    training_checkpoint(tmp_path / 'epoch_1.pth')
    good = publish_checkpoint(tmp_path / 'epoch_1.pth', tmp_path / 'm.pth').path
    data = good.read_bytes()
    corrupted = tmp_path / 'corrupted' / good.name
    corrupted.parent.mkdir()
    corrupted.write_bytes(data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:])
    truncated = tmp_path / 'truncated' / good.name
    truncated.parent.mkdir()
    truncated.write_bytes(data[:len(data) // 2])
    for bad in (corrupted, truncated):
        with pytest.raises(VerificationError, match=rf'{re.escape(str(bad))}: sha256 .* corrupted or truncated'):
            verify_published(bad)
    with pytest.raises(VerificationError, match='expected <name>-<first 8 hex of sha256>.pth'):
        verify_published(tmp_path / 'epoch_1.pth')
    # (publish_model --verify reports the same, naming the file: test_command_lines_print_counts_and_name_the_bad_file)

    # a file whose hash is right but whose weights do not fit its own config
    cfg = small_quick_cfg()
    ckpt = training_checkpoint(tmp_path / 'epoch_1.pth', cfg)
    cfg.model.neck.num_layers = 3
    ckpt['meta']['cfg'] = cfg.pretty_text
    torch.save(ckpt, tmp_path / 'mismatch.pth')
    with pytest.raises(CheckpointError, match=r'mismatch.pth: .*another shape, e.g. neck\.mlp\.3'):
        publish_checkpoint(tmp_path / 'mismatch.pth', tmp_path / 'mismatch_pub.pth')  # refused before writing
    assert not list(tmp_path.glob('mismatch_pub*'))
    data = serialize(dict(meta=ckpt['meta'], state_dict=ckpt['state_dict']))  # published by other means
    mismatched = tmp_path / f'mismatch_pub-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    mismatched.write_bytes(data)
    with pytest.raises(VerificationError, match=rf'{re.escape(str(mismatched))}: .*another shape, e.g. neck\.mlp\.3'):
        verify_published(mismatched)


def test_publish_refuses_a_backbone_only_file_that_verify_would_reject(tmp_path):
    cfg = small_quick_cfg()
    ckpt = training_checkpoint(tmp_path / 'epoch_1.pth', cfg)
    backbone = dict(meta=ckpt['meta'], state_dict={k: v for k, v in ckpt['state_dict'].items()
                                                   if k.startswith('backbone.')})
    torch.save(backbone, tmp_path / 'backbone.pth')
    with pytest.raises(CheckpointError, match=r'backbone.pth: only \d+ of the \d+ tensors of SimSiam .*neck\.'):
        publish_checkpoint(tmp_path / 'backbone.pth', tmp_path / 'zoo' / 'model.pth')
    assert not (tmp_path / 'zoo').exists() or not list((tmp_path / 'zoo').iterdir())


# ---------------------------------------------------------------- metafile

def _metafile_models() -> list[tuple[Path, dict]]:
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    metafiles = [REPO / p for p in index['Import']]
    assert REPO / 'configs/simsiam/metafile.yml' in metafiles
    return [(metafile, model) for metafile in metafiles for model in yaml.safe_load(metafile.read_text())['Models']]


def _is_downstream(config: Path) -> bool:
    """Whether ``config`` is an mmdet/mmseg benchmark (its ``_base_`` is mmdet's or mmseg's)."""
    return any(REPO / 'benchmarks' / d in config.parents for d in ('mmdetection', 'mmsegmentation'))


def _parse_configs(configs: set[Path]) -> None:
    for config in sorted(configs):  # benchmarks are shared by several pretrainings: parse each file once
        cfg = Config.fromfile(str(config), import_custom_modules=False)  # parse; imports are not at issue
        assert 'model' in cfg, f'{config}: no model'


@pytest.mark.slow  # every metafile config read: ~7 s
def test_metafile_configs_exist_and_parse():
    """Every model's config exists; the pretraining configs parse (the downstream ones need mmdet/mmseg: below)."""
    names, configs = set(), set()
    for metafile, model in _metafile_models():
        collections = {c['Name'] for c in yaml.safe_load(metafile.read_text())['Collections']}
        assert model['Name'] not in names, f'{metafile}: duplicate model {model["Name"]}'
        names.add(model['Name'])
        assert model['In Collection'] in collections, f'{metafile}: {model["Name"]} has an unknown collection'
        config = REPO / model['Config']
        assert config.is_file(), f'{metafile}: {model["Name"]}: Config {model["Config"]} does not exist'
        configs.add(config)
        for result in model.get('Results') or []:
            assert result['Task'] and result['Dataset'] and result['Metrics'], f'{model["Name"]}: bad Results'
    _parse_configs({c for c in configs if not _is_downstream(c)})
    pretraining = {p.stem for p in (REPO / 'configs/simsiam').glob('simsiam_*.py')}
    assert pretraining <= names, f'pretraining configs missing from the metafile: {pretraining - names}'


@pytest.mark.full_stack  # their _base_ configs are mmdet's and mmseg's
def test_metafile_downstream_configs_parse():
    configs = {REPO / m['Config'] for _, m in _metafile_models()}
    downstream = {c for c in configs if _is_downstream(c)}
    assert downstream, 'the metafile lists no downstream benchmark config'
    _parse_configs(downstream)


# ---------------------------------------------------------------- the chain on a real (tiny) pretraining

@pytest.fixture(scope='module')
def runner_checkpoint(cifar10_root, tmp_path_factory) -> Path:
    """What the Runner writes after one real SimSiam iteration (4 CIFAR-10 images x 2 views): optimizer, schedulers,
    message hub and all. Cheaper than the session's 4-iteration ``simsiam_checkpoint``; the format is the same."""
    import simsiam_mm  # noqa: F401
    return pretrain(tiny_pretrain_cfg(cifar10_root, tmp_path_factory.mktemp('zoo_pretrain'), iters=1, batch_size=4,
                                      num_images=8))


@pytest.mark.slow  # a Runner pretraining (runner_checkpoint)
@torch.no_grad()
def test_chain_on_real_pretraining_checkpoint(runner_checkpoint, tmp_path):
    """publish -> verify -> load -> extract -> torchvision (CIFAR stem) on a checkpoint the Runner wrote."""
    assert {'optimizer', 'message_hub', 'param_schedulers'} <= set(read_checkpoint(runner_checkpoint))
    published = publish_checkpoint(runner_checkpoint, tmp_path / 'simsiam_r18_cifar.pth').path
    verified = verify_published(published)
    cfg = Config.fromstring(torch.load(published, weights_only=True)['meta']['cfg'], '.py')
    model = build_model(cfg.model)
    load_checkpoint(model, str(published), strict=True)
    model.eval()
    backbone, report = extract_backbone_file(published)
    assert len(backbone['state_dict']) == len(report.converted) == verified.num_tensors - len(report.skipped)
    save_atomic(backbone, tmp_path / 'backbone.pth')
    tv_sd, _ = convert_torchvision_file(tmp_path / 'backbone.pth', allow_cifar_stem=True)
    tv = torchvision_resnet(18, cifar_stem=True)
    tv.load_state_dict(tv_sd, strict=True)
    tv.eval()
    x = torch.randn(4, 3, 32, 32)
    assert (nn.Sequential(*list(tv.children())[:-2])(x) - model.backbone(x)[-1]).abs().max() < 1e-5
