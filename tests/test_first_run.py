"""The first five minutes: the README opens with the light install and a training run on images shipped in the
repository (``data_samples/cifar10-mini``), and what that run and the short recipe print is readable (iterations
counted as iterations, no warning a user cannot act on).

The slow tests run the tools as a user does, with this interpreter: under ``.ci/run``'s light venv they check the
light install (mmcv-lite), under the full venv the full one."""
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from mmengine.config import Config
from PIL import Image

from simsiam_mm.errors import DataError, WorkDirError

from conftest import REPO

README = REPO / 'README.md'
MINI = REPO / 'data_samples/cifar10-mini'
SHORT_RECIPE_32PX = REPO / 'configs/simsiam/simsiam_resnet18-w16_1xb64-coslr-6k_imagefolder-32px-cpu.py'
CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
WARNING = re.compile(r'warn|deprecat', re.IGNORECASE)


def readme_commands() -> list[str]:
    """The command lines of the README's ```bash blocks, in order (comments and continuations resolved)."""
    commands = []
    for block in re.findall(r'```bash\n(.*?)```', README.read_text(), flags=re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split(' #')[0].strip()
            if line and not line.startswith('#'):
                commands.append(line)
    return commands


def first_train_command() -> list[str]:
    """``python tools/train.py CONFIG ...``: the README's first training command, as an argument list."""
    line = next(c for c in readme_commands() if re.match(r'(\S*/)?python tools/train\.py ', c))
    return shlex.split(line)[1:]


def tracked(path: Path) -> list[str]:
    """The files git tracks under ``path`` (a fresh clone has exactly these)."""
    out = subprocess.run(['git', 'ls-files', '--', str(path)], cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_readme_opens_with_the_light_install_then_a_run_on_shipped_data():
    """The first two commands: the light install, then tools/train.py on a config whose data is in the repository."""
    commands = readme_commands()
    assert commands[0] == 'bash tools/install.sh --lite', commands[:2]
    train = first_train_command()
    assert commands[1].endswith(' '.join(['tools/train.py', *train[1:]])), commands[:2]
    cfg = Config.fromfile(str(REPO / train[1]))
    root = REPO / cfg.train_dataloader.dataset.dataset.data_root
    assert root == MINI
    knn = next(h for h in cfg.custom_hooks if h.type == 'KNNEvalHook')  # the log shows whether it learns
    assert knn.before_train and not knn.by_epoch
    assert {knn.train_dataset.data_root, knn.val_dataset.data_root} == {cfg.train_dataloader.dataset.dataset.data_root}
    files = tracked(MINI)
    assert len([f for f in files if f.endswith('.png')]) >= 100, 'the shipped images are not tracked by git'


def test_shipped_subset_is_real_class_balanced_and_documented():
    for split in ('train', 'test'):
        folders = sorted(p for p in (MINI / split).iterdir() if p.is_dir())
        assert [p.name for p in folders] == CLASSES
        counts = {len(list(p.glob('*.png'))) for p in folders}
        assert counts == {50}, (split, counts)
    sample = sorted((MINI / 'train/cat').glob('*.png'))[:5]
    for path in sample:
        with Image.open(path) as image:
            assert image.format == 'PNG' and image.size == (32, 32) and image.mode == 'RGB'
    size = sum(p.stat().st_size for p in MINI.rglob('*.png'))
    assert size < 4e6, f'{size / 1e6:.1f} MB: keep the shipped sample small'
    note = (MINI / 'README.md').read_text()
    assert 'Krizhevsky' in note and '2009' in note and 'Terms' in note and 'make_cifar10_mini.py' in note


def _fake_cifar(root: Path, per_class: int = 6) -> Path:
    for split in ('train', 'test'):
        for c, name in enumerate(('cat', 'dog')):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.new('RGB', (32, 32), (c * 100, i * 20, 7)).save(folder / f'{i:04d}.jpg')
    return root


def test_make_cifar10_mini_is_deterministic_and_overwrites_nothing(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location('make_cifar10_mini', REPO / 'tools/data/make_cifar10_mini.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    source = _fake_cifar(tmp_path / 'cifar')
    outs = [tmp_path / 'a', tmp_path / 'b']
    for out in outs:
        assert tool.make_subset(source, out, dict(train=3, test=2)) == dict(train=6, test=4)
    files = [sorted(p.relative_to(out) for p in out.rglob('*.png')) for out in outs]
    assert files[0] == files[1] and len(files[0]) == 10
    assert all((outs[0] / f).read_bytes() == (outs[1] / f).read_bytes() for f in files[0])
    other = tool.make_subset(source, tmp_path / 'c', dict(train=3, test=2), seed=1)
    assert other and sorted(p.relative_to(tmp_path / 'c') for p in (tmp_path / 'c').rglob('*.png')) != files[0]
    with pytest.raises(WorkDirError, match='exists'):
        tool.make_subset(source, outs[0], dict(train=3, test=2))
    with pytest.raises(DataError, match='holds 6 images, fewer than the 7'):
        tool.make_subset(source, tmp_path / 'd', dict(train=7, test=2))


@pytest.mark.slow  # ~15 s: 1,000 images decoded and encoded
def test_shipped_subset_regenerates_byte_for_byte(cifar10_root, tmp_path):
    proc = subprocess.run([sys.executable, 'tools/data/make_cifar10_mini.py', str(cifar10_root), str(tmp_path / 'm')],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    made = sorted(p.relative_to(tmp_path / 'm') for p in (tmp_path / 'm').rglob('*.png'))
    assert made == sorted(p.relative_to(MINI) for p in MINI.rglob('*.png'))
    assert all((tmp_path / 'm' / f).read_bytes() == (MINI / f).read_bytes() for f in made)


def first_lines(args: list[str], count: int, stop: re.Pattern, timeout: float = 600) -> list[str]:
    """The first ``count`` lines (stdout and stderr) of ``python ARGS``, or fewer if a line matches ``stop``; then
    the process is killed (a long training run need not finish for its start to be checked)."""
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
    timer.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip('\n'))
            if len(lines) >= count or stop.search(line):
                break
    finally:
        timer.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return lines


@pytest.mark.slow  # starts the short recipe (6,000 iterations) and stops it after its first log line
def test_short_recipe_counts_iterations_and_starts_without_warnings(tmp_path):
    """The short recipe is iteration-based: ``Iter(train) [   1/6000]``, not ``Epoch(train) [1][1/7]``; its first
    20 lines hold no warning (mmcv-lite's, mmengine's end-of-dataloader restart, pkg_resources, ...)."""
    iter_line = re.compile(r'Iter\(train\) \[\s*\d+/6000\]')
    lines = first_lines(['tools/train.py', str(SHORT_RECIPE_32PX), '--work-dir', str(tmp_path), '--cfg-options',
                         f'train_dataloader.dataset.dataset.data_root={MINI}'], 20, iter_line)
    text = '\n'.join(lines)
    assert any(iter_line.search(line) for line in lines), text
    assert 'Epoch(train)' not in text
    assert [line for line in lines if WARNING.search(line)] == [], text


@pytest.mark.slow  # the README's first training command, cut to 10 iterations: ~30 s on 2 quiet cores
def test_readme_first_train_command_runs_and_logs_knn(tmp_path):
    """What a newcomer runs second, on the images the clone ships: kNN before training and during it, iterations
    logged as iterations (1, then every logger interval; no extra line at iteration 7, where the 500 images run
    out), no warning (none of mmengine's "Reach the end of the dataloader": the sampler's stream does not end)."""
    args = [*first_train_command(), '--work-dir', str(tmp_path), '--cfg-options', 'train_cfg.max_iters=10',
            'default_hooks.logger.interval=5', 'default_hooks.checkpoint.interval=10', 'custom_hooks.2.interval=5',
            'custom_hooks.2.num_per_class_train=10', 'custom_hooks.2.num_per_class_val=10']  # kNN: 100 + 100 images
    proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=840)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert [int(i) for i in re.findall(r'Iter\(train\) \[\s*(\d+)/10\]', out)] == [1, 5, 10], out[-3000:]
    knn = re.findall(r'KNNEvalHook \(k=20, T=0\.07\) after (\d+) iterations.*top1 ([\d.]+)', out)
    assert [int(step) for step, _ in knn] == [0, 5, 10], out[-3000:]
    assert all(0 < float(top1) <= 100 for _, top1 in knn)
    assert 'z_std_x_sqrt_d' in out  # the collapse score
    assert [line for line in out.splitlines() if WARNING.search(line)] == [], out[-3000:]
    assert (tmp_path / 'iter_10.pth').is_file()
