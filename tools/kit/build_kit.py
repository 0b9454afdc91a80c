"""Build the offline kit for an air-gapped GPU node: wheels for the node's Python, a real data subset, the source.

    python tools/kit/build_kit.py offline_kit                       # Python 3.12 node (the default)
    python tools/kit/build_kit.py offline_kit --python-version 3.11 --force

The node is assumed to have Python with a CUDA build of torch and torchvision, Pillow, numpy 2 and opencv, and no
package index. The folder (git-ignored under ``offline_kit*/`` or ``work_dirs/``; about 55 MiB) holds::

    run_kit.sh            THE script to run there: bash run_kit.sh [OUT_DIR] (installs from wheels/ only, prints the
                          environment, measures, writes JSON + PNG into OUT_DIR; about 10 minutes)
    wheels/               requirements/kit.txt with its requirements (numpy<2 for that Python, mmpretrain's and
                          mmengine's pure-Python requirements) and requirements/kit_nodeps.txt (mmengine, mmcv-lite,
                          mmpretrain: --no-deps), manylinux x86_64
    data/cifar10.tar.gz   a class-balanced CIFAR-10 subset: cifar10/{train,test}/<class>/*.jpg (gzip: the
                          small JPEGs' identical headers compress ~7x)
    data/fullsize.tar.gz  full-size JPEGs (500x375, quality 90) for the 224-px pipeline: fullsize/train/<class>/*
    src/                  the project at git HEAD (``git archive``), or the working tree with --source worktree
    MANIFEST.json         what is in it, sizes, sha256 of each wheel, the target Python

Nothing is overwritten that the tool did not write: an existing OUT_DIR is replaced only if it is a kit (has
MANIFEST.json) and --force is given, and then only the entries its MANIFEST.json lists as written by this tool
(``entries``; for an older kit: MANIFEST.json, run_kit.sh, wheels/, data/, src/) are replaced; anything else in it,
such as ``results/`` where run_kit.sh writes its measurements, or its ``venv/``, is kept and named.
"""
import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from itertools import zip_longest
from pathlib import Path

from simsiam_mm.errors import SimSiamMMError, cli_main

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = Path(os.environ.get('SIMSIAM_MM_DATA', REPO.parent / 'shared' / 'data'))
IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png'}
NODE_HAS = ('pillow',)  # torchvision's requirement: present wherever torchvision is; its wheel would cost 7 MB
PLATFORMS = ('manylinux2014_x86_64', 'manylinux_2_17_x86_64', 'manylinux_2_28_x86_64')
KIT_ENTRIES = ('MANIFEST.json', 'data', 'run_kit.sh', 'src', 'wheels')  # what a kit without 'entries' was made of


class KitError(SimSiamMMError):
    """A bad argument or input; the message names it and what to do."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('out_dir', type=Path, help='the kit folder to create (git-ignored: offline_kit*/ or work_dirs/)')
    p.add_argument('--python-version', default='3.12', help="the node's Python, MAJOR.MINOR (default 3.12)")
    p.add_argument('--data-root', type=Path, default=DEFAULT_DATA,
                   help='folder with cifar10/{train,test} and tinyimagenet10-dev/train (default: $SIMSIAM_MM_DATA)')
    p.add_argument('--train-per-class', type=int, default=1000, help='CIFAR-10 train images per class')
    p.add_argument('--test-per-class', type=int, default=200, help='CIFAR-10 test images per class')
    p.add_argument('--fullsize', type=int, default=300, help='full-size JPEGs for the 224-px pipeline')
    p.add_argument('--source', choices=['head', 'worktree'], default='head',
                   help='the project source: git HEAD (default) or the working tree with uncommitted changes')
    p.add_argument('--no-wheels', action='store_true', help='no pip download (a kit for a machine that has the stack)')
    p.add_argument('--with-opencv', action='store_true',
                   help='add opencv-python-headless<4.12 (~50 MB) for a node whose opencv fails under numpy<2')
    p.add_argument('--force', action='store_true', help='replace OUT_DIR if it is an earlier kit')
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------------ checks


def check_out_dir(out: Path, force: bool) -> None:
    """OUT_DIR must be new, or an earlier kit with --force; inside the repo, git must ignore it."""
    if out.exists() and not out.is_dir():
        raise KitError(f'{out}: exists and is a file, not a folder; choose a new OUT_DIR')
    if out.exists() and any(out.iterdir()):
        if not (out / 'MANIFEST.json').is_file():
            raise KitError(f'{out}: exists and is not a kit (no MANIFEST.json); choose a new OUT_DIR')
        if not force:
            raise KitError(f'{out}: holds a kit already; pass --force to replace it, or choose a new OUT_DIR')
    resolved = out.resolve()
    if REPO in resolved.parents:
        probe = resolved / 'MANIFEST.json'  # a file inside it: patterns like offline_kit*/ match folders only
        ignored = subprocess.run(['git', 'check-ignore', '-q', str(probe)], cwd=REPO).returncode == 0
        if not ignored:
            raise KitError(f'{out}: inside the repository but not git-ignored; use offline_kit/ (or any '
                           'offline_kit*/ or work_dirs/ folder) or a folder outside the repository')


def check_python_version(text: str) -> str:
    parts = text.split('.')
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise KitError(f'--python-version {text!r}: expected MAJOR.MINOR, e.g. 3.12')
    return text


# ------------------------------------------------------------------------------------------------ wheels


def pip_download(dest: Path, python_version: str, args: list[str]) -> None:
    """``pip download`` binary wheels for CPython ``python_version`` on manylinux x86_64."""
    abi = 'cp' + python_version.replace('.', '')
    cmd = [sys.executable, '-m', 'pip', 'download', '-q', '--only-binary=:all:', '--python-version', python_version,
           '--implementation', 'cp', '--abi', abi, '--abi', 'abi3', '--abi', 'none', '-d', str(dest)]
    for platform in (*PLATFORMS, 'any'):
        cmd += ['--platform', platform]
    proc = subprocess.run(cmd + args, capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if 'ERROR' in line] or proc.stderr.splitlines()[-5:]
        raise KitError(f'pip download for Python {python_version} failed ({" ".join(args)}): ' + ' | '.join(errors))


def download_wheels(dest: Path, python_version: str, with_opencv: bool) -> list[Path]:
    """The node's missing wheels: requirements/kit.txt with its requirements, kit_nodeps.txt without."""
    dest.mkdir(parents=True)
    pip_download(dest, python_version, ['-r', str(REPO / 'requirements/kit.txt')])
    pip_download(dest, python_version, ['--no-deps', '-r', str(REPO / 'requirements/kit_nodeps.txt')])
    if with_opencv:
        pip_download(dest, python_version, ['--no-deps', 'opencv-python-headless<4.12'])
    for wheel in dest.glob('*.whl'):
        if wheel.name.split('-')[0].lower() in NODE_HAS:
            wheel.unlink()
    return sorted(dest.glob('*.whl'))


# ------------------------------------------------------------------------------------------------ data


def class_images(folder: Path, per_class: int) -> list[Path]:
    """The first ``per_class`` images (sorted) of each class folder of ``folder``."""
    if not folder.is_dir():
        raise KitError(f'{folder}: not found (--data-root must hold cifar10/{{train,test}}/<class>/*.jpg)')
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise KitError(f'{folder}: no class folders')
    return [img for c in classes for img in sorted(p for p in c.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[
        :per_class]]


def write_cifar_tar(data_root: Path, tar_path: Path, train_per_class: int, test_per_class: int) -> int:
    """``cifar10/{train,test}/<class>/*`` (class-balanced subset) into one .tar.gz; returns the image count."""
    count = 0
    with tarfile.open(tar_path, 'w:gz') as tar:
        for split, n in (('train', train_per_class), ('test', test_per_class)):
            for img in class_images(data_root / 'cifar10' / split, n):
                tar.add(img, arcname=f'cifar10/{split}/{img.parent.name}/{img.name}')
                count += 1
    return count


def make_fullsize(src: Path, out: Path, num: int) -> None:
    """Full-size JPEGs: tools/data/make_fullsize_jpegs.py where the checkout has it, else the same recipe inline
    (round-robin over classes, bicubic upsampling to 500x375, JPEG quality 90)."""
    script = REPO / 'tools/data/make_fullsize_jpegs.py'
    if script.is_file():
        proc = subprocess.run([sys.executable, str(script), str(src), str(out), '--num', str(num), '--size',
                               '500x375', '--quality', '90'], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ['(no message)'])[-1]
            raise KitError(f'{script.name} failed on {src}: {last}')
        return
    from PIL import Image
    folders = sorted(p for p in src.iterdir() if p.is_dir())
    per_class = [sorted(p for p in f.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) for f in folders]
    for path in [p for group in zip_longest(*per_class) for p in group if p is not None][:num]:
        (out / path.parent.name).mkdir(parents=True, exist_ok=True)
        with Image.open(path) as img:
            img.convert('RGB').resize((500, 375), Image.Resampling.BICUBIC).save(
                out / path.parent.name / f'{path.stem}.JPEG', 'JPEG', quality=90)


def write_fullsize_tar(data_root: Path, tar_path: Path, num: int, scratch: Path) -> int:
    src = data_root / 'tinyimagenet10-dev' / 'train'
    if not src.is_dir():
        raise KitError(f'{src}: not found (--data-root must hold tinyimagenet10-dev/train/<class>/*.JPEG)')
    make_fullsize(src, scratch / 'fullsize' / 'train', num)
    images = sorted((scratch / 'fullsize').rglob('*.JPEG'))
    with tarfile.open(tar_path, 'w:gz') as tar:
        tar.add(scratch / 'fullsize', arcname='fullsize')
    shutil.rmtree(scratch / 'fullsize')
    return len(images)


# ------------------------------------------------------------------------------------------------ source


def write_source(dest: Path, source: str) -> str:
    """The project into ``dest``: ``git archive HEAD`` or the working tree's tracked and unignored files."""
    commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True, text=True, check=True)
    dirty = subprocess.run(['git', 'status', '--porcelain'], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dest.mkdir(parents=True)
    if source == 'head':
        archive = subprocess.run(['git', 'archive', '--format=tar', 'HEAD'], cwd=REPO, capture_output=True, check=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(dest, **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))
        if dirty:
            print(f'[kit] note: the working tree has uncommitted changes; the kit holds HEAD '
                  f'{commit.stdout.strip()[:10]} (--source worktree takes them)')
    else:
        files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=REPO, capture_output=True,
                               check=True).stdout.decode().split('\0')
        for name in filter(None, files):
            if (REPO / name).is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, dest / name)
    return commit.stdout.strip() + ('+dirty' if dirty and source == 'worktree' else '')


# ------------------------------------------------------------------------------------------------ main


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob('*') if p.is_file())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(args: argparse.Namespace) -> dict:
    check_out_dir(args.out_dir, args.force)
    python_version = check_python_version(args.python_version)
    tmp = args.out_dir.with_name(f'{args.out_dir.name}.building-{os.getpid()}')  # ignored by git where OUT_DIR is
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        start = time.time()
        wheels = [] if args.no_wheels else download_wheels(tmp / 'wheels', python_version, args.with_opencv)
        (tmp / 'data').mkdir()
        n_cifar = write_cifar_tar(args.data_root, tmp / 'data/cifar10.tar.gz', args.train_per_class,
                                  args.test_per_class)
        n_full = write_fullsize_tar(args.data_root, tmp / 'data/fullsize.tar.gz', args.fullsize, tmp)
        commit = write_source(tmp / 'src', args.source)
        shutil.copy2(tmp / 'src/tools/kit/run_kit.sh', tmp / 'run_kit.sh')
        manifest = dict(
            python_version=python_version, platforms=list(PLATFORMS), commit=commit, source=args.source,
            built_utc=time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime()), build_seconds=round(time.time() - start, 1),
            wheels={w.name: dict(bytes=w.stat().st_size, sha256=sha256(w)) for w in wheels},
            node_must_have=['python' + python_version, 'torch (CUDA build)', 'torchvision', *NODE_HAS, 'opencv'],
            data=dict(cifar10_images=n_cifar, train_per_class=args.train_per_class,
                      test_per_class=args.test_per_class, fullsize_images=n_full),
            bytes={p.name: folder_bytes(p) if p.is_dir() else p.stat().st_size for p in sorted(tmp.iterdir())})
        manifest['total_bytes'] = sum(manifest['bytes'].values())
        manifest['entries'] = sorted([p.name for p in tmp.iterdir()] + ['MANIFEST.json'])
        (tmp / 'MANIFEST.json').write_text(json.dumps(manifest, indent=1))
        if args.out_dir.exists():
            manifest['kept'] = replace_kit(tmp, args.out_dir)  # an earlier kit, with --force (check_out_dir)
        else:
            args.out_dir.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(args.out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def replace_kit(new: Path, out: Path) -> list[str]:
    """Replace the entries of the kit ``out`` that build_kit wrote (its MANIFEST.json's ``entries``) by those of
    ``new``; keep everything else (run_kit.sh's results/ and venv/, the user's files). Returns the kept names."""
    try:
        made = json.loads((out / 'MANIFEST.json').read_text()).get('entries', KIT_ENTRIES)
    except (OSError, ValueError, AttributeError):
        made = KIT_ENTRIES
    made = {name for name in made if isinstance(name, str) and name not in ('', '.', '..') and '/' not in name}
    new_names = sorted(p.name for p in new.iterdir())
    clash = [n for n in new_names if n not in made and ((out / n).exists() or (out / n).is_symlink())]
    if clash:
        raise KitError(f'{out / clash[0]}: was not written by build_kit (not in MANIFEST.json entries) but a new kit '
                       'needs that name; move it away or choose a new OUT_DIR')
    old = out.with_name(f'{out.name}.replaced-{os.getpid()}')
    old.mkdir()
    try:
        for name in sorted(made):
            if (out / name).exists() or (out / name).is_symlink():
                (out / name).rename(old / name)
        for name in new_names:
            (new / name).rename(out / name)
    finally:
        shutil.rmtree(old, ignore_errors=True)
    return sorted(set(os.listdir(out)) - set(new_names))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    manifest = build(args)
    sizes = ', '.join(f'{k} {v / 2 ** 20:.1f} MiB' for k, v in manifest['bytes'].items())
    print(f'[kit] {args.out_dir}: {manifest["total_bytes"] / 2 ** 20:.1f} MiB ({sizes}); {len(manifest["wheels"])} '
          f'wheels for Python {manifest["python_version"]}, {manifest["data"]["cifar10_images"]} CIFAR-10 images, '
          f'{manifest["data"]["fullsize_images"]} full-size JPEGs, source {manifest["commit"][:12]} '
          f'({manifest["build_seconds"]:.0f} s)')
    if manifest.get('kept'):
        print(f'[kit] kept what build_kit did not write: {", ".join(manifest["kept"])} (replaced only '
              f'{", ".join(manifest["entries"])})')
    print(f'[kit] on the node: bash {args.out_dir.name}/run_kit.sh [OUT_DIR]   (copy the whole folder there)')
    return 0


if __name__ == '__main__':
    sys.exit(cli_main(main)())
