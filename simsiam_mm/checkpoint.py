"""Every checkpoint simsiam_mm reads or writes passes through here: one reader, one weights check, one writer.

- **Reading** (:func:`read_checkpoint`): ``torch.load`` with the safe loader (``weights_only=True``, torch's default
  since 2.6). mmengine saves its message hub (``HistoryBuffer``, numpy arrays and scalars) in every checkpoint, which
  the safe loader refuses; :func:`allow_mmengine_checkpoints` allow-lists exactly those types, so resume, evaluation
  and conversion work without ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``. A file that is missing, empty, cut short, not a
  checkpoint, or full of foreign Python objects is refused in one sentence naming it.
- **The weights check** (:func:`check_weights`): which tensors of a module a state dict supplies by name and shape;
  a checkpoint of another architecture, with a missing or extra prefix, or in a foreign format (torchvision, the
  official code) is refused before any work, naming the file, how many tensors matched and the fix (for a known
  format, the converter command).
- **Writing** (:func:`atomic_write_bytes`, :func:`save_atomic`): written beside the final name and moved over it with
  ``os.replace`` after an ``fsync``, so a reader sees the old file or the new one, never a partial one.
"""
import io
import os
import os.path as osp
import pickle
import re
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from torch import Tensor, nn

from simsiam_mm.errors import CheckpointError

TMP_SUFFIX = '.tmp'
BACKBONE_PREFIX = 'backbone.'


# ----------------------------------------------------------------------------------------------------------- reading
def _numpy_globals() -> list:
    core = np.core if np.lib.NumpyVersion(np.__version__) < '2.0.0' else np._core
    dtypes = [type(np.dtype(t)) for t in ('float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64',
                                          'uint8', 'bool', 'object', 'str', 'bytes')]
    scalars = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_]
    return [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype, *dtypes, *scalars]


def _history_buffer_getattr(obj, name: str):
    """Stands in for ``getattr`` while unpickling: ``HistoryBuffer.__getstate__`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``, and a plain allow-listed ``getattr`` would hand any attribute of any
    allow-listed object to the checkpoint. This one returns only HistoryBuffer's registered statistics methods."""
    if obj is HistoryBuffer and name in {*HistoryBuffer._statistics_methods, 'min', 'max', 'current', 'mean'}:
        return getattr(obj, name)
    raise pickle.UnpicklingError(f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer statistics '
                                 'methods are allowed')


def allow_mmengine_checkpoints() -> None:
    """Allow-list the types mmengine pickles into a checkpoint for ``torch.load(weights_only=True)``."""
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(
            [HistoryBuffer, *_numpy_globals(), (_history_buffer_getattr, 'builtins.getattr')])


DAMAGED = 'the file is damaged or cut short (its pickle stream breaks off or holds garbage)'


def _unreadable(path: str, error: Exception) -> str:
    """Why ``torch.load`` failed on ``path``, in our words, whole: never torch's advice to re-run with
    ``weights_only=False`` (which would execute whatever the file holds), nor a sentence cut off mid-word."""
    text = str(error)
    unsupported = re.search(r'Unsupported global: GLOBAL (\S+)', text)
    if unsupported:
        name = unsupported.group(1)
        module, _, attr = name.rpartition('.')
        if module in sys.modules and not hasattr(sys.modules[module], attr):  # e.g. torch._utils._rebui: cut short
            return f'{DAMAGED}: it names {name!r}, which does not exist — copy or save the file again'
        return (f'it holds a Python object the safe loader refuses ({name}), so it is not a checkpoint written by '
                'simsiam_mm, mmengine or the official SimSiam code — save a plain '
                '`torch.save({"state_dict": model.state_dict()}, PATH)` instead')
    unpickler = re.search(r'WeightsUnpickler error:\s*(.+?)\s*(?:\n|$)', text)
    if unpickler or isinstance(error, (pickle.UnpicklingError, EOFError)):
        detail = unpickler.group(1).rstrip('.') if unpickler else type(error).__name__
        return f'{DAMAGED} ({detail}) — copy or save the file again'
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    if len(first) > 160:  # cut at a word, and say so
        first = first[:160].rsplit(' ', 1)[0] + ' ...'
    return f'it cannot be read as a PyTorch checkpoint ({type(error).__name__}: {first})'


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a complete checkpoint file, or ``None`` if it looks like one (checked without unpickling).

    ``torch.save`` writes a zip archive whose central directory comes last, so a file cut short lacks it; every
    member is read back and checked against its CRC-32. A file that is neither a zip archive nor a pickle is named as
    such (a mistyped path, a text or image file), not as "cut short".
    """
    path = str(path)
    if not osp.exists(path):
        return 'no such file — check the path'
    if osp.isdir(path):
        return 'it is a folder, not a checkpoint file'
    if osp.getsize(path) == 0:
        return 'the file is empty (0 bytes)'
    with open(path, 'rb') as f:
        head = f.read(4)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as e:
            return f'its zip archive is damaged ({e}): it was probably cut short while being written or copied'
        return None if bad is None else f'member {bad!r} fails its CRC check: the file is corrupt'
    if head.startswith(b'PK'):
        return ('the zip archive is truncated (no central directory at its end): it was probably cut short while '
                'being written or copied (a kill, a full disk)')
    if head[:1] != b'\x80':  # every pickle protocol >= 2 (all torch.save legacy files) starts with PROTO 0x80
        return (f'it is not a PyTorch checkpoint (neither a zip archive nor a pickle; it starts with {head!r}) — '
                'check the path')
    return None


def read_checkpoint(path: str | os.PathLike, what: str = 'checkpoint') -> dict[str, Any]:
    """``torch.load(path, map_location='cpu', weights_only=True)`` of a local file or URL, as a dict.

    Raises :class:`CheckpointError` ``'<path>: <what is wrong> — <what to do>'`` for a missing, empty, truncated or
    foreign file.

    Examples:
        >>> import tempfile
        >>> path = tempfile.mktemp(suffix='.pth')
        >>> torch.save({'state_dict': {'backbone.conv1.weight': torch.ones(1)}}, path)
        >>> list(read_checkpoint(path)['state_dict'])
        ['backbone.conv1.weight']
        >>> read_checkpoint(path + '.missing')
        Traceback (most recent call last):
        ...
        simsiam_mm.errors.CheckpointError: ....pth.missing: cannot read the checkpoint: no such file — check the path
    """
    source = str(path)
    if '://' in source:
        from mmengine.fileio import get_local_path
        with get_local_path(source) as local:
            return read_checkpoint(local, what)
    problem = checkpoint_problem(source)
    if problem is not None:
        raise CheckpointError(f'{source}: cannot read the {what}: {problem}')
    allow_mmengine_checkpoints()
    try:
        obj = torch.load(source, map_location='cpu', weights_only=True)
    except Exception as e:  # zip/pickle errors of foreign or damaged files
        raise CheckpointError(f'{source}: cannot read the {what}: {_unreadable(source, e)}') from e
    if not isinstance(obj, Mapping):
        raise CheckpointError(f'{source}: cannot read the {what}: it holds a {type(obj).__name__}, not a dict of '
                              'tensors — save `{"state_dict": model.state_dict()}`')
    return dict(obj)


def state_dict_of(ckpt: Mapping[str, Any], source: str) -> dict[str, Tensor]:
    """The tensors of a checkpoint: its ``state_dict`` (mmengine, official) or ``model`` entry, or the dict itself.

    A ``module.`` prefix that every key carries (saved from a DDP wrapper) is removed.

    Examples:
        >>> list(state_dict_of({'state_dict': {'module.conv.weight': torch.ones(1)}, 'meta': {}}, 'demo'))
        ['conv.weight']
    """
    for key in ('state_dict', 'model'):
        if isinstance(ckpt.get(key), Mapping):
            ckpt = ckpt[key]
            break
    state = {k: v for k, v in ckpt.items() if isinstance(v, Tensor)}
    if not state:
        raise CheckpointError(f'{source}: holds no tensors (looked in "state_dict", "model" and the top level) — is '
                              'it a checkpoint at all?')
    if all(k.startswith('module.') and not k.startswith('module.encoder.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    return state


def checkpoint_format(state: Mapping[str, Tensor]) -> str:
    """Which layout a state dict has: ``'simsiam_mm'`` (``backbone.*``), ``'official'`` (facebookresearch/simsiam,
    ``module.encoder.*``), ``'torchvision'`` (bare ResNet with ``fc``), ``'backbone'`` (bare ResNet, no ``fc``),
    ``'detectron2'`` (``stem.*``/``res2.*``) or ``'unknown'``."""
    keys = set(state)
    if any(k.startswith(BACKBONE_PREFIX) for k in keys):
        return 'simsiam_mm'
    if any(k.startswith(('module.encoder.', 'encoder.')) for k in keys):
        return 'official'
    if any(k.startswith(('stem.', 'res2.')) for k in keys):
        return 'detectron2'
    if 'conv1.weight' in keys and any(k.startswith('layer1.') for k in keys):
        return 'torchvision' if 'fc.weight' in keys else 'backbone'
    return 'unknown'


#: what to do with a file of each foreign format (``{path}`` is filled in).
CONVERT_HINTS = {
    'official': 'convert it first: python tools/model_converters/official_to_simsiam_mm.py {path} OUT.pth',
    'torchvision': ('it is a torchvision ResNet state dict (no "backbone." prefix, with fc.*): convert it first: '
                    'python tools/model_converters/extract_backbone_weights.py {path} OUT.pth'),
    'backbone': ('it is a bare backbone state dict (no "backbone." prefix): convert it first: '
                 'python tools/model_converters/extract_backbone_weights.py {path} OUT.pth'),
    'detectron2': 'it is a detectron2 file; simsiam_mm reads only its own, official or torchvision checkpoints',
}


def strip_prefix(state: Mapping[str, Tensor], prefix: str, source: str) -> dict[str, Tensor]:
    """The tensors under ``prefix``, with the prefix removed; refuse a state dict with none, saying what it is.

    Examples:
        >>> strip_prefix({'backbone.conv1.weight': torch.ones(1), 'neck.w': torch.ones(1)}, 'backbone.', 'demo')
        {'conv1.weight': tensor([1.])}
    """
    if not prefix:
        return dict(state)
    out = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if out:
        return out
    fmt = checkpoint_format(state)
    tops = sorted({k.split('.', 1)[0] + '.' for k in state})[:6]
    hint = CONVERT_HINTS.get(fmt, f'is it a checkpoint of this model? its keys start with {tops}').format(path=source)
    raise CheckpointError(f'{source}: no tensor starts with {prefix!r} (of {len(state)}) — {hint}')


# -------------------------------------------------------------------------------------------------- the weights check
@dataclass
class WeightsCheck:
    """How a state dict covers a module's tensors (BN ``num_batches_tracked`` counters not counted)."""
    module: str
    expected: int
    matched: dict[str, Tensor] = field(default_factory=dict)
    wrong_shape: list[str] = field(default_factory=list)  # same name, another shape
    missing: list[str] = field(default_factory=list)  # the module has it, the checkpoint does not
    unexpected: list[str] = field(default_factory=list)  # the checkpoint has it, the module does not

    def summary(self) -> str:
        text = f'{len(self.matched)}/{self.expected} tensors of {self.module} loaded'
        if self.missing:
            text += f'; {len(self.missing)} keep their initialisation ({_head(self.missing)})'
        return text


def _head(names: list[str], n: int = 2) -> str:
    return ', '.join(names[:n]) + (', ...' if len(names) > n else '')


def check_weights(module: nn.Module, state: Mapping[str, Tensor], source: str, min_fraction: float = 1.0,
                  strict: bool = False) -> WeightsCheck:
    """Compare ``state`` with ``module``'s tensors by name and shape, and refuse a checkpoint that does not fit.

    Refused (:class:`CheckpointError` naming ``source``, how many tensors matched and the fix) when any tensor has the
    right name but another shape (another depth or width), when less than ``min_fraction`` of the module's tensors
    are supplied, or, with ``strict``, when the checkpoint holds tensors the module lacks.

    Examples:
        >>> net = nn.Sequential(nn.Linear(2, 3))
        >>> check_weights(net, {'0.weight': torch.ones(3, 2), '0.bias': torch.ones(3)}, 'a.pth').summary()
        '2/2 tensors of Sequential loaded'
        >>> check_weights(net, {'0.weight': torch.ones(4, 2), '0.bias': torch.ones(3)}, 'b.pth')
        Traceback (most recent call last):
        ...
        simsiam_mm.errors.CheckpointError: b.pth: only 1 of the 2 tensors of Sequential match by name and shape ...
    """
    own = {k: v for k, v in module.state_dict().items() if not k.endswith('num_batches_tracked')}
    state = {k: v for k, v in state.items() if not k.endswith('num_batches_tracked')}
    check = WeightsCheck(module=type(module).__name__, expected=len(own))
    for name, value in own.items():
        if name not in state:
            check.missing.append(name)
        elif tuple(state[name].shape) != tuple(value.shape):
            check.wrong_shape.append(name)
        else:
            check.matched[name] = state[name]
    check.unexpected = [k for k in state if k not in own]
    fraction = len(check.matched) / max(len(own), 1)
    if not check.wrong_shape and fraction >= min_fraction and not (strict and check.unexpected):
        return check
    if check.wrong_shape:
        name = check.wrong_shape[0]
        why = (f'{len(check.wrong_shape)} have the right name but another shape, e.g. {name} '
               f'{tuple(state[name].shape)} in the file vs {tuple(own[name].shape)} in the model: a checkpoint of '
               'another architecture (depth, width, stem) — use the config it was trained with')
    elif check.unexpected and fraction >= min_fraction:
        why = f'{len(check.unexpected)} tensors of the file are not in the model ({_head(check.unexpected)})'
    elif check.matched and check.missing:
        why = f'{len(check.missing)} tensors of the model are not in the file ({_head(check.missing, 3)})'
    elif checkpoint_format(state) == 'simsiam_mm':
        why = "the file holds a whole SimSiam model: load its backbone with prefix='backbone.'"
    else:
        fmt = checkpoint_format(state)
        why = (CONVERT_HINTS.get(fmt, f'the file has {_head(sorted(state), 3)}, the model expects '
                                      f'{_head(sorted(own), 3)}')).format(path=source.split(' ')[0])
    raise CheckpointError(f'{source}: only {len(check.matched)} of the {len(own)} tensors of {check.module} match by '
                          f'name and shape — {why}')


def load_checked(module: nn.Module, state: Mapping[str, Tensor], source: str, min_fraction: float = 1.0,
                 strict: bool = False) -> WeightsCheck:
    """:func:`check_weights`, then load the matched tensors into ``module``; returns the check for the log."""
    check = check_weights(module, state, source, min_fraction, strict)
    own = module.state_dict()
    counters = {k: v for k, v in state.items()  # BN's num_batches_tracked: not weights, but copied as mmengine does
                if k.endswith('num_batches_tracked') and k in own and v.shape == own[k].shape}
    module.load_state_dict({**check.matched, **counters}, strict=False)
    return check


def load_pretrained(module: nn.Module, path: str | os.PathLike, prefix: str | None = BACKBONE_PREFIX,
                    min_fraction: float = 1.0) -> WeightsCheck:
    """Load the ``prefix`` tensors of checkpoint ``path`` into ``module``, checked: the one way pretrained weights are
    loaded (the evaluation tools' backbone, ``init_cfg=dict(type='CheckedPretrained')``)."""
    source = str(path)
    state = strip_prefix(state_dict_of(read_checkpoint(source, 'pretrained checkpoint'), source), prefix or '', source)
    return load_checked(module, state, source if not prefix else f"{source} (prefix='{prefix}')", min_fraction)


# ----------------------------------------------------------------------------------------------------------- writing
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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` (creating its folder) so that a reader sees the old content or the new, never a
    partial file; returns ``path``.

    The temporary name ``<name>.<random>.tmp`` is unique, so several processes (the ranks of a distributed run) may
    write the same ``path`` at once; an interrupted or failed write (a full disk) removes it.
    """
    path = str(path)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
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
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` for text."""
    return atomic_write_bytes(path, text.encode())


def serialize(obj: Any) -> bytes:
    """``torch.save`` into memory: the bytes do not depend on the output file name, so their hash is stable."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, serialize(obj))
