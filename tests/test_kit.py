"""The offline kit (tools/kit/): the builder refuses to overwrite what is not its own, and the kit's one script runs
end to end on this CPU in its tiny mode (install skipped: this environment has the stack) and writes JSON + PNG."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, require_data

BUILD = REPO / 'tools/kit/build_kit.py'


def build_kit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BUILD), *args], capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.mark.slow  # a build_kit.py process: ~9 s of imports
def test_build_kit_refuses_a_folder_that_is_not_a_kit(tmp_path: Path) -> None:
    precious = tmp_path / 'results'
    precious.mkdir()
    (precious / 'notes.txt').write_text('keep me')
    proc = build_kit(str(precious), '--no-wheels')
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f'build_kit.py: error: {precious}: exists and is not a kit (no '
                                                'MANIFEST.json); choose a new OUT_DIR']
    assert (precious / 'notes.txt').read_text() == 'keep me' and len(list(precious.iterdir())) == 1


@pytest.mark.slow  # a build_kit.py process: ~9 s of imports
def test_build_kit_refuses_a_folder_git_would_track() -> None:
    target = REPO / 'kit_would_be_committed'
    proc = build_kit(str(target), '--no-wheels')
    assert proc.returncode == 1 and not target.exists()
    assert 'inside the repository but not git-ignored; use offline_kit/' in proc.stderr


@pytest.mark.slow  # a build_kit.py process: ~9 s of imports
def test_build_kit_rejects_a_bad_python_version(tmp_path: Path) -> None:
    proc = build_kit(str(tmp_path / 'kit'), '--python-version', '312')
    assert proc.returncode == 1 and "--python-version '312': expected MAJOR.MINOR" in proc.stderr
    assert not (tmp_path / 'kit').exists()


@pytest.fixture(scope='module')
def tiny_kit(cifar10_root: Path, tmp_path_factory) -> Path:
    """A kit without wheels, with 8+4 CIFAR-10 images per class and 8 full-size JPEGs, from the working tree."""
    data_root = cifar10_root.parent
    require_data(data_root / 'tinyimagenet10-dev', 'Tiny-ImageNet-10 image folders')
    kit = tmp_path_factory.mktemp('kit') / 'offline_kit'
    proc = build_kit(str(kit), '--no-wheels', '--source', 'worktree', '--data-root', str(data_root),
                     '--train-per-class', '8', '--test-per-class', '4', '--fullsize', '8')
    assert proc.returncode == 0, proc.stderr
    return kit


@pytest.mark.slow  # builds a kit (a build_kit.py process, ~20 s)
def test_kit_layout_and_manifest(tiny_kit: Path) -> None:
    manifest = json.loads((tiny_kit / 'MANIFEST.json').read_text())
    assert manifest['python_version'] == '3.12' and manifest['wheels'] == {}
    assert manifest['data'] == dict(cifar10_images=120, train_per_class=8, test_per_class=4, fullsize_images=8)
    assert manifest['total_bytes'] == sum(manifest['bytes'].values()) < 10 * 2 ** 20
    assert (tiny_kit / 'run_kit.sh').read_bytes() == (REPO / 'tools/kit/run_kit.sh').read_bytes()
    assert (tiny_kit / 'src/simsiam_mm/__init__.py').is_file() and (tiny_kit / 'src/tools/kit/node_bench.py').is_file()
    assert not list(tiny_kit.parent.glob('offline_kit.building-*'))  # the temporary build folder is gone
    # a second build into the same folder needs --force, and then replaces it
    assert 'holds a kit already; pass --force' in build_kit(str(tiny_kit), '--no-wheels').stderr


@pytest.mark.slow  # three subprocesses that each import the stack: ~1-4 min on 2 shared cores
def test_kit_script_dry_run_on_cpu(tiny_kit: Path, tmp_path: Path) -> None:
    out = tmp_path / 'results'
    env = dict(os.environ, KIT_SKIP_INSTALL='1', KIT_TINY='1', KIT_PYTHON=sys.executable)
    env.pop('PYTHONPATH', None)  # the kit's own src/ must be what runs
    proc = subprocess.run(['bash', str(tiny_kit / 'run_kit.sh'), str(out)], capture_output=True, text=True, env=env,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '[kit] environment:' in proc.stdout and '[kit] parts: 3 ok' in proc.stdout
    results = json.loads((out / 'kit_results.json').read_text())
    version = (REPO / 'simsiam_mm/version.py').read_text().split("'")[1]
    assert results['environment']['simsiam_mm'] == version and results['tiny'] is True
    assert f'{tiny_kit}/src/tools/analysis/train_throughput.py' in proc.stdout  # the kit's copy is what ran
    for mode in ('throughput_gpu_data', 'throughput_loader'):
        part = results['parts'][mode]
        assert part['ok'], part
        variants = part['result']['cases']['r18cifar-32-b256']['variants']
        assert set(variants) == {'mmpretrain', 'ours', 'fast'}
        assert all(v['images_per_s'] > 0 and v['peak_mem_gib'] > 0 for v in variants.values())
    assert results['parts']['throughput_gpu_data']['result']['args']['data_on_device'] is True
    assert results['parts']['throughput_loader']['result']['args']['data_on_device'] is False
    cifar = results['parts']['cifar']['summary']
    assert [i for i, _ in cifar['simsiam']['knn']] == [2, 4] and 0 <= cifar['random_init_top1'] <= 100
    assert '80 class-balanced train images of' in cifar['setting'] and cifar['setting'].count('cifar10')
    for png in ('kit_throughput.png', 'cifar/collapse_evidence.png'):
        assert (out / png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    summary = (out / 'kit_summary.md').read_text()
    assert '| real loader (batch 2, 32 px) | fast |' in summary and '| simsiam | 2: ' in summary
