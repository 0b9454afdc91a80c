"""Reading checkpoints with errors that name the file, and writing them atomically."""
import io
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from simsiam_mm.engine.checkpoint import allow_mmengine_checkpoints
from simsiam_mm.engine.checkpoint_files import atomic_write_bytes, load_error_summary, not_a_checkpoint
from simsiam_mm.zoo.report import ConversionError


def load_checkpoint_file(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load`` on the CPU with the safe loader (``weights_only=True``), failing with the file's name.

    mmengine's message hub types are allow-listed (:func:`allow_mmengine_checkpoints`, including the ``getattr`` a
    ``HistoryBuffer`` pickles, restricted to its statistics methods), so full training checkpoints load too;
    official facebookresearch/simsiam checkpoints hold only tensors, ints and strings.
    """
    path = Path(path)
    foreign = not_a_checkpoint(str(path))
    if foreign is not None:
        raise ConversionError(f'{path}: {foreign} — give a checkpoint file (.pth).')
    allow_mmengine_checkpoints()
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # zip/pickle errors from truncated or foreign files
        raise ConversionError(f'{path}: cannot be read as a PyTorch checkpoint ({load_error_summary(e)}); a zip '
                              'cut short (a kill, a full disk) or a file from another program.') from e
    if not isinstance(obj, dict):
        raise ConversionError(f'{path}: expected a dict checkpoint, got {type(obj).__name__}')
    return obj


def get_state_dict(ckpt: dict[str, Any], source: str) -> dict[str, Tensor]:
    """The tensors of a checkpoint: its ``state_dict`` (mmengine, official) or ``model`` entry, or the dict itself."""
    for key in ('state_dict', 'model'):
        if isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    state_dict = {k: v for k, v in ckpt.items() if isinstance(v, Tensor)}
    if not state_dict:
        raise ConversionError(f'{source}: holds no tensors (looked in "state_dict", "model" and the top level)')
    return state_dict


def serialize(obj: Any) -> bytes:
    """``torch.save`` into memory: the bytes do not depend on the output file name, so their hash is stable."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def write_atomic(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`simsiam_mm.engine.checkpoint_files.atomic_write_bytes`): a
    reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(str(path), data)
    return path


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through :func:`write_atomic`."""
    return write_atomic(serialize(obj), path)
