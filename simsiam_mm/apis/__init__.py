"""Start-up, in one place: what the tools do before and around the mmengine Runner.

- :mod:`~simsiam_mm.apis.config`: load a config (errors name the file) and check it before anything is built (keys,
  types, values, data folders, the work dir); the ``global_batch_size`` split, the one step that changes it.
- :mod:`~simsiam_mm.apis.launch`: the command-line flags the launching tools share and their merge into the config,
  gloo DDP where CUDA is absent, ``torchrun`` with the error boundary's promise.
- :mod:`~simsiam_mm.apis.resume`: the resume decision: the checkpoint resolved once, read and checked once, handed to
  the Runner.
- :mod:`~simsiam_mm.apis.downstream`: the config surgery of the mmdet/mmseg benchmarks (pretrained weights, data
  root, smoke runs).

The layer above ``engine``, ``evaluation`` and ``models`` (it may import them; they never import it), below
``tools/``. What the Runner builds from a config (hooks, optimizer wrappers, the Runner itself, checked pretrained
initialisation) stays in :mod:`simsiam_mm.engine`.
"""
from .config import (
    check_batch_size,
    check_config,
    check_dataloader_paths,
    check_values,
    check_work_dir,
    load_config,
    merge_options,
    split_global_batch,
)
from .launch import add_launch_args, merge_args, merge_launch_args, parse_launch_args, prepare_distributed
from .resume import check_train_data, decide_resume

__all__ = ['add_launch_args', 'check_batch_size', 'check_config', 'check_dataloader_paths', 'check_train_data',
           'check_values', 'check_work_dir', 'decide_resume', 'load_config', 'merge_args', 'merge_launch_args',
           'merge_options', 'parse_launch_args', 'prepare_distributed', 'split_global_batch']
