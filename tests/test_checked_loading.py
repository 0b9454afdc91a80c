"""Every evaluation entry point loads weights through one check, and refuses weights that do not fit before any work.

A ResNet-50 checkpoint under the ResNet-18 config, a torchvision-format file and an official-format file are refused
by kNN and the VOC07 SVM with a non-zero exit and one line naming the file, the tensors that matched and the fix.
"""
import subprocess
from pathlib import Path

import pytest
import torch
import torchvision

from simsiam_mm.checkpoint import (
    check_weights,
    checkpoint_format,
    load_pretrained,
    read_checkpoint,
    state_dict_of,
    strip_prefix,
)
from simsiam_mm.errors import CheckpointError

from conftest import QUICK_CONFIG, REPO, run_python_tool


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return run_python_tool(args, timeout=300)  # a fresh process forked after the package's import (conftest)


@pytest.fixture(scope='module')
def foreign_files(tmp_path_factory) -> dict[str, Path]:
    """A torchvision ResNet-18 file and an official-format (module.encoder.*) file."""
    root = tmp_path_factory.mktemp('foreign')
    torch.manual_seed(0)
    tv = torchvision.models.resnet18()
    torch.save(tv.state_dict(), root / 'torchvision_r18.pth')
    official = {f'module.encoder.{k}': v for k, v in tv.state_dict().items()}
    torch.save({'state_dict': official, 'arch': 'resnet18'}, root / 'official_r18.pth.tar')
    return {'torchvision': root / 'torchvision_r18.pth', 'official': root / 'official_r18.pth.tar'}


def _assert_refused(result: subprocess.CompletedProcess, path: Path, *phrases: str) -> None:
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-2000:]
    assert 'Traceback' not in out, out[-2000:]  # one line from the error boundary, not a traceback
    assert 'top1' not in out and 'mAP' not in out.replace('mAP (', '')  # nothing was scored
    last = result.stderr.strip().splitlines()[-1]
    assert ': error: ' in last and str(path) in last, last
    for phrase in phrases:
        assert phrase in last, last


@pytest.mark.slow
def test_knn_refuses_resnet50_under_resnet18_config(simsiam_r50_checkpoint, cifar10_root):
    result = run_tool('tools/analysis/knn_eval.py', str(QUICK_CONFIG), str(simsiam_r50_checkpoint),
                      '--data-root', str(cifar10_root), '--num-per-class-train', '2', '--num-per-class-val', '2')
    _assert_refused(result, simsiam_r50_checkpoint, 'tensors of ResNet_CIFAR match', 'another shape',
                    'another architecture')


@pytest.mark.slow
@pytest.mark.parametrize('fmt, fix', [('torchvision', 'extract_backbone_weights.py'),
                                      ('official', 'official_to_simsiam_mm.py')])
def test_knn_refuses_foreign_formats_with_the_converter_command(foreign_files, cifar10_root, fmt, fix):
    path = foreign_files[fmt]
    result = run_tool('tools/analysis/knn_eval.py', str(QUICK_CONFIG), str(path), '--data-root', str(cifar10_root),
                      '--num-per-class-train', '2', '--num-per-class-val', '2')
    _assert_refused(result, path, "no tensor starts with 'backbone.'", fix)


@pytest.mark.slow
def test_svm_refuses_resnet50_under_resnet18_config_and_torchvision_file(simsiam_r50_checkpoint, foreign_files,
                                                                         downstream_root):
    voc = downstream_root / 'VOCdevkit/VOC2007'
    for path, phrase in ((simsiam_r50_checkpoint, 'another shape'), (foreign_files['torchvision'], 'torchvision')):
        result = run_tool('tools/analysis/voc_svm.py', str(QUICK_CONFIG), str(path), '--voc-root', str(voc),
                          '--stage', '5')
        _assert_refused(result, path, phrase)


@pytest.mark.slow
def test_converted_torchvision_file_then_loads(foreign_files, tmp_path):
    """The fix the refusal names works: extract_backbone_weights.py turns a torchvision file into backbone.* keys
    (dropping fc.*, reported), which load into a ResNet-18 whole."""
    out = tmp_path / 'converted.pth'
    result = run_tool('tools/model_converters/extract_backbone_weights.py', str(foreign_files['torchvision']), str(out))
    assert result.returncode == 0, result.stderr
    assert 'fc.weight' in result.stdout and 'skipped' in result.stdout
    state = state_dict_of(read_checkpoint(out), str(out))
    assert checkpoint_format(state) == 'simsiam_mm' and not any('fc.' in k for k in state)
    from mmpretrain.models import ResNet
    model = torch.nn.Module()
    model.backbone = ResNet(depth=18)
    check = load_pretrained(model.backbone, out)
    assert len(check.matched) == check.expected and not check.missing


@pytest.mark.parametrize('content, phrase', [
    (b'', 'the file is empty'),
    (b'just some text\n', 'it is not a PyTorch checkpoint'),
    (b'PK\x03\x04' + b'\x00' * 64, 'truncated'),
])
def test_reader_names_the_file_and_never_suggests_weights_only_false(tmp_path, content, phrase):
    path = tmp_path / 'bad.pth'
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    assert str(err.value).startswith(f'{path}: ') and phrase in str(err.value)
    assert 'weights_only' not in str(err.value)
    if phrase != 'truncated':
        assert 'cut short' not in str(err.value)  # a text file or an empty file was not "cut short"


def test_reader_refuses_pickled_objects_without_torchs_advice(tmp_path):
    path = tmp_path / 'objects.pth'
    torch.save({'state_dict': {}, 'extra': torch.nn.ReLU()}, path)
    with pytest.raises(CheckpointError, match='safe loader refuses') as err:
        read_checkpoint(path)
    assert 'weights_only' not in str(err.value)


def _legacy_pickle_cut_short() -> bytes:
    import io
    buffer = io.BytesIO()
    torch.save({'state_dict': {'w': torch.ones(3)}}, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()[:len(buffer.getvalue()) // 2]


@pytest.mark.parametrize('content', [
    b'\x80' + bytes((i * 31 + 7) % 256 for i in range(4096)),  # passes the header test, then garbage
    b'\x80\x02' + b'garbage' * 50,
    _legacy_pickle_cut_short(),  # a legacy (non-zip) file cut short: torch names a half-written global
])
def test_damaged_pickle_is_named_in_our_words_whole(tmp_path, content):
    """A damaged file gets our sentence, whole: not torch's "Re-running `torch.load` with `weights_only` set to
    `False`" advice (cut off mid-word before), nor "a Python object the safe loader refuses" for a cut-off name."""
    path = tmp_path / 'damaged.pth'
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    msg = str(err.value)
    assert msg.startswith(f'{path}: cannot read the checkpoint: the file is damaged or cut short'), msg
    assert 'weights_only' not in msg and 'Re-running' not in msg and 'safe loader refuses' not in msg
    assert msg.endswith('copy or save the file again'), msg


def test_prefix_and_check_messages():
    state = {'backbone.conv1.weight': torch.ones(2, 3, 3, 3)}
    assert list(strip_prefix(state, 'backbone.', 'a.pth')) == ['conv1.weight']
    with pytest.raises(CheckpointError, match=r"a.pth: no tensor starts with 'encoder.' \(of 1\)"):
        strip_prefix(state, 'encoder.', 'a.pth')
    conv = torch.nn.Conv2d(3, 2, 3, bias=False)
    with pytest.raises(CheckpointError, match='2 tensors of the file are not in the model'):
        check_weights(conv, {'weight': torch.ones(2, 3, 3, 3), 'x': torch.ones(1), 'y': torch.ones(1)}, 'b.pth',
                      strict=True)


def test_checked_pretrained_resolves_from_every_scope():
    """Configs of mmpretrain, mmdet and mmseg name ``CheckedPretrained`` plainly once simsiam_mm is imported."""
    from mmengine.registry import WEIGHT_INITIALIZERS, DefaultScope

    import simsiam_mm  # noqa: F401
    for scope in ('mmpretrain', 'mmdet', 'mmseg', 'simsiam_mm', 'mmengine'):
        with DefaultScope.overwrite_default_scope(scope):
            init = WEIGHT_INITIALIZERS.build(dict(type='CheckedPretrained', checkpoint='x.pth', prefix='backbone.'))
        assert type(init).__name__ == 'CheckedPretrainedInit', scope


def test_checked_pretrained_survives_mmpretrain_zero_init_residual(tmp_path):
    """mmpretrain's ResNet zeroes each block's last BN after its initializers ran, unless the init type is exactly
    'Pretrained': CheckedPretrained must keep the loaded weights (zero_init_residual=True is mmpretrain's default)."""
    from mmengine.registry import DefaultScope
    from mmpretrain.models import ResNet
    from mmpretrain.registry import MODELS

    import simsiam_mm  # noqa: F401
    torch.manual_seed(0)
    source = ResNet(depth=18)
    for m in source.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
    path = tmp_path / 'simsiam.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in source.state_dict().items()}}, path)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(type='ResNet', depth=18, zero_init_residual=True, init_cfg=dict(
            type='CheckedPretrained', checkpoint=str(path), prefix='backbone.')))
    model.init_weights()
    assert torch.equal(model.layer1[0].bn2.weight, source.layer1[0].bn2.weight)  # not zeroed
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.state_dict().items()
               if not k.endswith('num_batches_tracked'))


LINEAR_CIFAR = REPO / 'benchmarks/classification/cifar10/resnet18-cifar_linear-1xb512-coslr-100e_cifar10.py'


@pytest.mark.slow
def test_test_py_and_load_from_load_checked_and_say_the_count(simsiam_checkpoint, cifar10_root, tmp_path):
    """tools/test.py's CHECKPOINT and tools/train.py's load_from go through the one checked loader: a file that fits
    loads whole and the log says how many tensors (the count of the model's own, computed here independently)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from simsiam_mm.registry import MODELS
    cfg = Config.fromfile(str(LINEAR_CIFAR))
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        classifier = MODELS.build(cfg.model)
    expected = len([k for k in classifier.state_dict() if not k.endswith('num_batches_tracked')])
    ckpt = tmp_path / 'linear.pth'
    torch.save({'state_dict': classifier.state_dict(), 'meta': {}}, ckpt)
    test = run_tool('tools/test.py', str(LINEAR_CIFAR), str(ckpt), '--work-dir', str(tmp_path / 'test'),
                    '--cfg-options', f'test_dataloader.dataset.data_root={cifar10_root}',
                    'test_dataloader.dataset.indices=8', 'test_dataloader.num_workers=0',
                    'test_dataloader.persistent_workers=False')
    log = test.stdout + test.stderr
    assert test.returncode == 0, log[-3000:]
    assert f'load_from {ckpt}: {expected}/{expected} tensors of ImageClassifier loaded' in log, log[-3000:]

    pretrain = Config.fromfile(str(QUICK_CONFIG))
    with DefaultScope.overwrite_default_scope('simsiam_mm'):
        simsiam = MODELS.build(pretrain.model)
    expected = len([k for k in simsiam.state_dict() if not k.endswith('num_batches_tracked')])
    train = run_tool('tools/train.py', str(QUICK_CONFIG), '--work-dir', str(tmp_path / 'train'), '--cfg-options',
                     f'load_from={simsiam_checkpoint}', f'train_dataloader.dataset.data_root={cifar10_root}',
                     'train_dataloader.dataset.indices=16', 'train_dataloader.batch_size=8',
                     'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                     'train_cfg.max_epochs=1')
    log = train.stdout + train.stderr
    assert train.returncode == 0, log[-3000:]
    assert f'load_from {simsiam_checkpoint}: {expected}/{expected} tensors of SimSiam loaded' in log, log[-3000:]
