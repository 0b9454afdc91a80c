"""Let ``torch.load(weights_only=True)`` (the default since torch 2.6) read mmengine checkpoints.

mmengine saves the message hub (``HistoryBuffer``, numpy arrays and scalars) in every checkpoint, and torch >= 2.6
refuses to unpickle those with ``weights_only=True``: resume fails with ``Unsupported global: GLOBAL
mmengine.logging.history_buffer.HistoryBuffer``. Allow-listing exactly those types keeps the safe loader, so no user
has to set ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``.
"""
import pickle

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


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
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(
            [HistoryBuffer, *_numpy_globals(), (_history_buffer_getattr, 'builtins.getattr')])
