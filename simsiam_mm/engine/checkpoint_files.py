"""Checkpoint files that are either complete or absent: atomic writes, and a check that names a truncated file.

A checkpoint is written next to its final name and renamed over it with ``os.replace`` (atomic on POSIX and Windows
within one file system), after an ``fsync``; ``last_checkpoint`` is replaced the same way. A process killed while
saving therefore leaves the previous checkpoint and a ``last_checkpoint`` that names it; at worst a ``*.tmp`` file,
which the next run removes.
"""
import os
import os.path as osp
import re
import tempfile
import zipfile

import torch

from simsiam_mm.errors import CheckpointError

TMP_SUFFIX = '.tmp'


def fsync_file(path: str) -> None:
    """Flush ``path``'s data to the disk."""
    with open(path, 'rb') as f:
        os.fsync(f.fileno())


def fsync_dir(path: str) -> None:
    """Make a rename inside directory ``path`` durable (no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit_file(tmp_path: str, final_path: str) -> None:
    """Atomically move a completely written ``tmp_path`` to ``final_path``."""
    fsync_file(tmp_path)
    os.replace(tmp_path, final_path)
    fsync_dir(osp.dirname(osp.abspath(final_path)))


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old content or the new, never a partial file; an
    interrupted write leaves at most a ``<name>.<random>.tmp`` file behind. The temporary name is unique, so several
    processes (the ranks of a distributed run) may write the same ``path`` at once."""
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(osp.abspath(path)), prefix=osp.basename(path) + '.',
                               suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; keep the permissions of an ordinary file
        commit_file(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    """:func:`atomic_write_bytes` for text."""
    atomic_write_bytes(path, text.encode())


TORCH_ADVICE_MARKERS = ('weights_only', 'Re-running', 'WeightsUnpickler', 'Check the documentation', 'file an issue',
                        'In PyTorch 2.6')


def load_error_summary(error: BaseException) -> str:
    """``torch.load``'s failure in a few words, without its advice to re-run with ``weights_only=False`` (which
    executes arbitrary code from the file and does not help a file that is not a checkpoint at all)."""
    lines = [line.strip() for line in str(error).replace('. ', '.\n').splitlines()]
    kept = [line for line in lines if line and not any(m in line for m in TORCH_ADVICE_MARKERS)
            and not line.startswith('http')]
    return f'{type(error).__name__}: {" ".join(kept)[:200] or "unreadable"}'


def not_a_checkpoint(path: str) -> str | None:
    """Why ``path`` cannot be a torch checkpoint at all (missing, a folder, empty, not a zip or pickle), else
    ``None``. Never says "cut short" for a file that was never a checkpoint."""
    if not osp.exists(path):
        return 'the file does not exist (check the path)'
    if osp.isdir(path):
        return 'is a folder, not a checkpoint file'
    if osp.getsize(path) == 0:
        return 'the file is empty'
    with open(path, 'rb') as f:
        head = f.read(8)
    if not head.startswith(b'PK') and not head.startswith(b'\x80'):  # zip (torch >= 1.6) or a legacy pickle
        kind = 'a text file' if _is_text(head) else 'some other binary format'
        return f'not a PyTorch checkpoint (it starts with {head!r}: {kind})'
    return None


def _is_text(head: bytes) -> bool:
    return all(32 <= b < 127 or b in b'\t\n\r' for b in head)


def checkpoint_problem(path: str) -> str | None:
    """Why ``path`` is not a complete checkpoint, or ``None`` if it is.

    ``torch.save`` writes a zip archive whose central directory comes last, so a file cut short lacks it; every member
    is read back and checked against its CRC-32. A legacy (non-zip) checkpoint is checked by loading it.
    """
    foreign = not_a_checkpoint(path)
    if foreign is not None:
        return foreign
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as e:
            return f'the zip archive is damaged ({e})'
        return None if bad is None else f'member {bad!r} fails its CRC check'
    with open(path, 'rb') as f:
        head = f.read(4)
    if head.startswith(b'PK'):
        return 'the zip archive is truncated (no central directory at its end)'
    try:
        torch.load(path, map_location='cpu', weights_only=False)  # legacy pickle format: loading is the test
    except Exception as e:  # noqa: BLE001 (any failure means unreadable)
        return f'it cannot be loaded ({load_error_summary(e)})'
    return None


def checkpoints_in(directory: str) -> list[str]:
    """The ``*.pth`` files in ``directory``, newest first (by the step in ``epoch_N``/``iter_N``, then by mtime)."""
    if not osp.isdir(directory):
        return []
    paths = [osp.join(directory, n) for n in os.listdir(directory) if n.endswith('.pth')]

    def key(p: str) -> tuple:
        m = re.search(r'(\d+)\.pth$', osp.basename(p))
        return (int(m.group(1)) if m else -1, osp.getmtime(p))

    return sorted(paths, key=key, reverse=True)


def check_resume_checkpoint(path: str, source: str = '--resume') -> None:
    """Raise :class:`CheckpointError` naming ``path`` and the newest complete checkpoint beside it if ``path``
    is missing, truncated or corrupt. ``source`` says where the path came from (e.g. the ``last_checkpoint`` file)."""
    problem = checkpoint_problem(path)
    if problem is None:
        return
    previous = [p for p in checkpoints_in(osp.dirname(path) or '.') if osp.abspath(p) != osp.abspath(path)
                and checkpoint_problem(p) is None]
    if previous:
        offer = (f'The previous complete checkpoint is {previous[0]}: resume from it with '
                 f'`python tools/train.py CONFIG --resume {previous[0]}` (or delete {path} and write that path into '
                 'last_checkpoint).')
    else:
        offer = 'No other complete checkpoint lies beside it; start the run again without --resume.'
    cause = '' if not_a_checkpoint(path) else (' It was probably cut short while being written or copied (a kill, '
                                               'a full disk).')
    raise CheckpointError(f'{path}: cannot resume from this checkpoint (from {source}): {problem}.{cause} {offer}')
