"""What a user sees: a first log line (with the ETA) after iteration 1, one-line start-up dumps on the console with
the full text in the log file, no warnings they cannot act on, progress with an ETA, and curves from a work dir."""
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simsiam_mm.evaluation.progress import track

from conftest import DATA, QUICK_CONFIG, REPO, require_data, tiny_pretrain_cfg

PYTHON_ENV = dict(os.environ, PYTHONPATH=str(REPO))


def run_tool(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=PYTHON_ENV, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope='module')
def tiny_run(cifar10_root, tmp_path_factory) -> tuple[Path, str]:
    """A real 3-iteration run (logger interval 2, kNN at the end) with SimSiamRunner; (work dir, console output)."""
    import simsiam_mm  # noqa: F401
    from simsiam_mm.engine import SimSiamRunner
    work_dir = tmp_path_factory.mktemp('readable_run')
    cfg = tiny_pretrain_cfg(cifar10_root, work_dir, iters=3)
    cfg.log_level = 'INFO'
    cfg.default_hooks.logger = dict(_scope_='simsiam_mm', type='EarlyLoggerHook', interval=2)
    # kNN on a small labelled folder (the CIFAR-10 test folder alone holds 10,000 files to scan)
    small = require_data(DATA / 'tinyimagenet10-dev', 'Tiny-ImageNet-10 image folders')
    data = dict(type='CustomDataset', data_root=str(small), data_prefix='val',
                pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    cfg.custom_hooks.append(dict(type='KNNEvalHook', interval=3, by_epoch=False, num_per_class_train=3,
                                 num_per_class_val=1, train_dataset=data, val_dataset=data, seed=1))
    console = io.StringIO()
    with contextlib.redirect_stdout(console):  # MMLogger's console handler writes to the sys.stdout of its creation
        SimSiamRunner.from_cfg(cfg).train()
    return work_dir, console.getvalue()


@pytest.mark.slow  # shares a real 3-iteration run (~10-15 s on 2 quiet cores)
def test_first_log_line_after_iteration_1_with_eta(tiny_run):
    work_dir, console = tiny_run
    lines = [line for line in console.splitlines() if '(train)' in line and 'loss: ' in line]
    assert len(lines) == 2 and 'eta: ' in lines[0], lines  # iteration 1, then every `interval` (2)
    scalars = [json.loads(s) for s in next(work_dir.rglob('scalars.json')).read_text().splitlines()]
    assert [s['step'] for s in scalars if 'loss' in s] == [1, 2]


@pytest.mark.slow  # shares a real 3-iteration run (~10-15 s on 2 quiet cores)
def test_startup_dumps_are_one_line_on_console_and_full_in_log_file(tiny_run):
    work_dir, console = tiny_run
    assert 'System environment' not in console and 'before_train:' not in console
    env = next(line for line in console.splitlines() if ' - INFO - Environment: ' in line)
    assert 'PyTorch' in env and 'seed' in env
    log_file = Path(re.search(r'\(in full in (\S+\.log)\)', env).group(1))
    assert re.search(r'Config: \d+ lines', console) and 'Hooks: RuntimeInfoHook' in console
    full = log_file.read_text()
    assert 'System environment:' in full and 'Config:\n' in full and 'before_train:' in full
    assert len(console.splitlines()) < 20, console


@pytest.mark.slow  # shares a real 3-iteration run (~10-15 s on 2 quiet cores)
def test_plot_curves_from_a_real_work_dir(tiny_run, tmp_path):
    work_dir, _ = tiny_run
    out = tmp_path / 'curves.png'
    proc = run_tool('tools/analysis/plot_curves.py', str(work_dir), '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    for key in ('loss', 'lr', 'predictor_lr', 'z_std_x_sqrt_d', 'knn/top1'):
        assert re.search(rf'(: |, ){re.escape(key)}(,| over)', proc.stdout), proc.stdout
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and out.stat().st_size > 10_000


@pytest.mark.slow  # a plot_curves.py process: ~9 s of imports
def test_plot_curves_names_a_work_dir_without_scalars(tmp_path):
    proc = run_tool('tools/analysis/plot_curves.py', str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f'plot_curves.py: error: {tmp_path}: no vis_data/scalars.json under it; pass the work dir tools/train.py wrote '
        '(its config needs a LocalVisBackend, the default)']


def test_track_prints_progress_lines_with_eta_to_a_log():
    out = io.StringIO()  # not a terminal: plain lines at every 25 % and at the end
    assert list(track(iter([[0] * 10] * 8), total=80, desc='features', size=len, stream=out, every=0.25)) \
        == [[0] * 10] * 8
    lines = out.getvalue().splitlines()
    assert [line.split(' images')[0] for line in lines] == [
        'features: 20/80', 'features: 40/80', 'features: 60/80', 'features: 80/80']
    assert all(re.search(r'images/s, elapsed \d+:\d\d, ETA \d+:\d\d$', line) for line in lines), lines


@pytest.mark.slow
def test_quick_training_run_output_is_short_and_free_of_known_warnings(cifar10_root, tmp_path):
    """tools/train.py on the quick config (2 iterations, 2 loader workers): the first iteration line comes within the
    first lines, with an ETA, and none of the known warnings (pkg_resources, mmcv alpha, FileClient, NaN guard)."""
    proc = run_tool('tools/train.py', str(QUICK_CONFIG), '--work-dir', str(tmp_path), '--cfg-options',
                    f'train_dataloader.dataset.data_root={cifar10_root}', 'train_dataloader.dataset.indices=64',
                    'train_dataloader.batch_size=32', 'train_dataloader.persistent_workers=False')
    lines = (proc.stdout + proc.stderr).splitlines()
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = next(i for i, line in enumerate(lines) if 'Epoch(train) [1][1/2]' in line)
    assert first < 10 and 'eta: ' in lines[first], lines[:first + 1]
    assert [line for line in lines if re.search(r'Warning|WARNING|deprecat', line)] == []
