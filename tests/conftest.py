"""Shared fixtures: where the real data lives, and how a test gets a small SimSiam checkpoint.

Data-dependent tests skip with a reason where ``../shared/data`` (or ``$SIMSIAM_MM_DATA``) is absent, as in a user's
checkout; with ``SIMSIAM_MM_REQUIRE_DATA=1`` (set by ``.ci/run``) the same absence fails the test instead.
Tests marked ``full_stack`` (mmcv's compiled ops, mmdet, mmseg) skip under the light install
(``tools/install.sh --lite``); with ``SIMSIAM_MM_REQUIRE_FULL_STACK=1`` (``.ci/run``'s full run) they fail instead.
"""
import atexit
import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('SIMSIAM_MM_DATA', REPO.parent / 'shared' / 'data'))
REQUIRE_DATA = os.environ.get('SIMSIAM_MM_REQUIRE_DATA', '') not in ('', '0', 'false', 'False')
REQUIRE_FULL_STACK = os.environ.get('SIMSIAM_MM_REQUIRE_FULL_STACK', '') not in ('', '0', 'false', 'False')
FULL_STACK_MODULES = ('mmcv._ext', 'mmdet', 'mmseg')  # mmcv._ext: mmcv built with its ops (mmcv-lite has none)
QUICK_CONFIG = REPO / 'configs/simsiam/simsiam_resnet18-cifar_1xb32-coslr-1e-2k_cifar10-quick.py'

# Tests import these helpers (`from conftest import pretrain`); tools/ is not importable: tests run the tools as
# subprocesses, as users do (what a tool does that a test checks in-process lives in the package).
sys.path.insert(0, str(REPO / 'tests'))


class ToolServer:
    """``tests/tool_server.py``: forks a fresh process per command line from one that has imported the package once
    (a tool's start-up is mostly that import, ~9 CPU s) and runs the tool there as ``__main__``. For tests of what a
    tool does after its imports; start-up itself (warnings, import errors, the light install) is tested with plain
    subprocesses. ``SIMSIAM_MM_TOOL_SUBPROCESS=1``: :func:`run_python_tool` uses plain subprocesses throughout."""

    def __init__(self, env: dict | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, str(REPO / 'tests/tool_server.py')], cwd=REPO,
                                     env=dict(env or os.environ, PYTHONPATH=str(REPO)), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.lock = threading.Lock()

    def run(self, argv: list[str], fsize: int | None = None, timeout: int = 600, env: dict | None = None,
            merge: bool = True) -> dict:
        with self.lock:
            request = dict(argv=argv, fsize=fsize, timeout=timeout, env=env, merge=merge)
            self.proc.stdin.write(json.dumps(request) + '\n')
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


_SERVER: ToolServer | None = None


def run_python_tool(argv: list, *, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python TOOL ARGS`` from the repository root, stdout and stderr apart (like ``subprocess.run(...,
    capture_output=True, text=True)``), in a process forked from the session's :class:`ToolServer`."""
    global _SERVER
    argv = [str(a) for a in argv]
    if os.environ.get('SIMSIAM_MM_TOOL_SUBPROCESS'):
        return subprocess.run([sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=timeout)
    if _SERVER is None:
        _SERVER = ToolServer()
        atexit.register(_SERVER.close)
    reply = _SERVER.run(argv, timeout=timeout, env=dict(env or os.environ, PYTHONPATH=str(REPO)), merge=False)
    return subprocess.CompletedProcess([sys.executable, *argv], reply['returncode'], reply['output'], reply['stderr'])


def require_data(path: Path, what: str) -> Path:
    """Return ``path`` if it exists; otherwise skip (users' checkouts) or fail (CI, SIMSIAM_MM_REQUIRE_DATA=1)."""
    if path.exists():
        return path
    msg = f'{what} not found at {path} (set SIMSIAM_MM_DATA to the folder holding cifar10/ and downstream/)'
    if REQUIRE_DATA:
        pytest.fail(f'SIMSIAM_MM_REQUIRE_DATA is set but {msg}')
    pytest.skip(msg)


def missing_full_stack() -> list[str]:
    """The full-stack modules this environment lacks (none after ``tools/install.sh``; all after ``--lite``)."""
    missing = []
    for name in FULL_STACK_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:  # the parent package itself is missing
            found = False
        if not found:
            missing.append(name)
    return missing


def pytest_collection_modifyitems(config, items) -> None:
    """``full_stack`` tests: skipped with the reason where the stack is missing (failed under CI's full run)."""
    missing = missing_full_stack()
    if not missing:
        return
    reason = (f'needs the full install (missing: {", ".join(missing)}); this is a light install: '
              'bash tools/install.sh (without --lite) for the downstream benchmarks')
    if REQUIRE_FULL_STACK and any('full_stack' in item.keywords for item in items):
        raise pytest.UsageError(f'SIMSIAM_MM_REQUIRE_FULL_STACK is set but the environment {reason}')
    for item in items:
        if 'full_stack' in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope='session')
def cifar10_root() -> Path:
    """The real CIFAR-10 images in ImageNet-style folders: ``{train,test}/<class>/*.jpg``."""
    return require_data(DATA / 'cifar10', 'CIFAR-10 image folders')


@pytest.fixture(scope='session')
def downstream_root() -> Path:
    """Real VOC / COCO / Cityscapes / VOC-seg samples in the layouts mmdet and mmseg expect."""
    return require_data(DATA / 'downstream', 'downstream detection/segmentation samples')


# ----------------------------------------------------------------------------------------------- the one tiny model
def tiny_sizes(width: int = 8, dim: int = 16, hid: int = 32, pred: int | None = None) -> dict:
    """The sizes of a narrow SimSiam, to merge onto a config's ``model`` (its norms and switches stay): ResNet-18 at
    stem/base width ``width`` (8: 8-16-32-64 channels, 1/8 of the real one), projector ``8 * width -> hid -> dim``,
    predictor ``dim -> pred -> dim`` (``pred`` defaults to ``dim // 4``, the paper's bottleneck ratio)."""
    pred = pred or dim // 4
    return dict(backbone=dict(base_channels=width, stem_channels=width),
                neck=dict(in_channels=8 * width, hid_channels=hid, out_channels=dim),
                head=dict(predictor=dict(in_channels=dim, hid_channels=pred, out_channels=dim)))


def tiny_model_cfg(width: int = 64, dim: int = 16, hid: int = 32, pred: int | None = None, *, depth: int = 18,
                   cifar: bool = True, num_layers: int = 2, zero_init_residual: bool = False, **head) -> dict:
    """A whole SimSiam model dict at :func:`tiny_sizes` (default: the real ResNet-18-CIFAR, a small projector and
    predictor), with BN / BN1d (one process, no SyncBN). ``depth`` 50 means the bottleneck ResNet (4x the output
    channels); ``cifar=False`` the ImageNet ResNet stem; ``head`` (``symmetric``, ``stop_gradient``, ``loss``, ...)
    goes to SimSiamHead."""
    sizes = tiny_sizes(width, dim, hid, pred)
    sizes['neck']['in_channels'] *= 4 if depth >= 50 else 1
    return dict(
        type='SimSiam',
        backbone=dict(type='ResNet_CIFAR' if cifar else 'ResNet', depth=depth, norm_cfg=dict(type='BN'),
                      zero_init_residual=zero_init_residual, **sizes['backbone']),
        neck=dict(type='SimSiamProjector', num_layers=num_layers, norm_cfg=dict(type='BN1d'), **sizes['neck']),
        head=dict(type='SimSiamHead', **head,
                  predictor=dict(type='SimSiamPredictor', norm_cfg=dict(type='BN1d'), **sizes['head']['predictor'])))


def tiny_simsiam(width: int = 64, **head):
    """:func:`tiny_model_cfg` built (zero-init residuals, as the recipes); ``head`` goes to SimSiamHead."""
    from simsiam_mm.registry import MODELS
    return MODELS.build(tiny_model_cfg(width, zero_init_residual=True, **head))


def tiny_head(**head):
    """The SimSiamHead of :func:`tiny_simsiam` (predictor 16 -> 4 -> 16); ``predictor=None``: no predictor."""
    from simsiam_mm.registry import MODELS
    cfg = tiny_model_cfg()['head']
    cfg.update(head)
    return MODELS.build(cfg)


def tiny_pretrain_cfg(cifar10_root: Path, work_dir: Path, *, backbone: str = 'resnet18_cifar', iters: int = 4,
                      batch_size: int = 8, num_images: int = 64, image_size: int = 32, seed: int = 0,
                      config: Path = QUICK_CONFIG):
    """``config`` (default: the CIFAR-10 quick config) cut to ``iters`` iterations on ``num_images`` real CIFAR-10
    images (a Config to tweak). ``backbone``: 'resnet18_cifar' (the config's), 'resnet50' or 'tiny'."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(config))
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=seed)
    loader = cfg.train_dataloader
    loader.batch_size, loader.num_workers, loader.persistent_workers = batch_size, 0, False
    loader.dataset.data_root, loader.dataset.indices = str(cifar10_root), num_images
    if image_size != 32:
        multiview = next(t for t in loader.dataset.pipeline if t.type == 'MultiView')
        multiview.transforms[0][0].scale = image_size
    if backbone == 'resnet50':
        cfg.model.backbone = dict(type='ResNet', depth=50, norm_cfg=dict(type='BN'), zero_init_residual=True)
        cfg.model.neck.update(in_channels=2048, num_layers=3)
    elif backbone == 'tiny':  # ResNet-18-CIFAR at width 8, d = 16: only the sizes change (norms, switches stay)
        sizes = tiny_sizes()
        if not cfg.model.head.get('predictor'):
            del sizes['head']
        cfg.merge_from_dict(dict(model=sizes))
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters)
    cfg.param_scheduler = [dict(type='CosineAnnealingLR', T_max=iters, by_epoch=False, begin=0, end=iters)]
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=iters, by_epoch=False)
    cfg.log_level = 'WARNING'
    return cfg


def pretrain(cfg) -> Path:
    """Run a Runner on ``cfg``; return the checkpoint path it wrote last."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    return Path(cfg.work_dir) / Path(open(Path(cfg.work_dir) / 'last_checkpoint').read().strip()).name


@pytest.fixture(scope='session')
def simsiam_checkpoint(cifar10_root, tmp_path_factory) -> Path:
    """A real (tiny) SimSiam ResNet-18-CIFAR pretraining checkpoint: 4 iterations on 64 CIFAR-10 images."""
    import simsiam_mm  # noqa: F401
    return pretrain(tiny_pretrain_cfg(cifar10_root, tmp_path_factory.mktemp('pretrain_r18')))


@pytest.fixture(scope='session')
def simsiam_r50_checkpoint(cifar10_root, tmp_path_factory) -> Path:
    """A real (tiny) SimSiam ResNet-50 checkpoint (2 iterations, 64 px): what mmdet/mmseg benchmarks load."""
    import simsiam_mm  # noqa: F401
    cfg = tiny_pretrain_cfg(cifar10_root, tmp_path_factory.mktemp('pretrain_r50'), backbone='resnet50', iters=2,
                            batch_size=4, num_images=16, image_size=64)
    return pretrain(cfg)
