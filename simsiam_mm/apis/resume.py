"""The resume decision, made once before any training step: which checkpoint, read and checked once, handed to the
Runner.

``tools/train.py --resume [PATH]`` walks :func:`decide_resume`:

1. **The path, resolved once** (:func:`resume_path`): ``--resume PATH``, else the ``last_checkpoint`` file of the work
   dir, else nothing (a fresh start, said when ``*.pth`` files lie there unnamed).
2. **The file, read and checked once** (:func:`read_resume_checkpoint`): :func:`simsiam_mm.checkpoint.read_checkpoint`
   (CRC of every zip member, the safe unpickler), then the training-checkpoint keys (``state_dict``, ``meta``,
   ``message_hub``, ``optimizer``). A file that fails names itself and offers the newest neighbour that passes the
   same whole check (never one that only passes a header test: random bytes starting with 0x80, a backbone-only or a
   published file).
3. **The run, checked against it**: its tensors fit the built model by name and shape (strict), the run is not
   already complete, the dataset has the size the checkpoint was saved with.
4. **Handed over** (:meth:`simsiam_mm.engine.SimSiamRunner.resume_with`): mmengine's ``Runner.resume`` takes the dict
   already read instead of reading the file again, and ``ResumableCheckpointHook.after_load_checkpoint`` gets the
   same dict.

Without these checks mmengine logs "size mismatch" lines and keeps training on a mix of loaded and random weights,
fails with ``KeyError: 'message_hub'`` for a published file, or stops inside the sampler with ``skip=… outside …``.
"""
import logging
import os
import os.path as osp
import re
from typing import Any

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from simsiam_mm.checkpoint import check_weights, read_checkpoint
from simsiam_mm.errors import CheckpointError, DataError

#: what a training checkpoint holds besides ``state_dict`` (a published or converted file has none of them)
TRAINING_KEYS = ('meta', 'message_hub', 'optimizer')
READ_AS = 'checkpoint to resume from'


def checkpoints_in(directory: str) -> list[str]:
    """The ``*.pth`` files in ``directory``, newest first (by the step in ``epoch_N``/``iter_N``, then by mtime)."""
    if not osp.isdir(directory):
        return []
    paths = [osp.join(directory, n) for n in os.listdir(directory) if n.endswith('.pth')]

    def key(p: str) -> tuple:
        m = re.search(r'(\d+)\.pth$', osp.basename(p))
        return (int(m.group(1)) if m else -1, osp.getmtime(p))

    return sorted(paths, key=key, reverse=True)


def resume_path(cfg: Config) -> tuple[str | None, str]:
    """The checkpoint a ``resume=True`` config continues from, and where that path came from (``'--resume'`` or
    the ``last_checkpoint`` file); ``(None, '')`` when there is none. Reads ``last_checkpoint`` (the only place it
    is read)."""
    if not cfg.get('resume'):
        return None, ''
    if cfg.get('load_from'):
        return cfg.load_from, '--resume'
    pointer = osp.join(cfg.work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            return f.read().strip(), pointer
    found = checkpoints_in(cfg.work_dir)
    if found:
        print_log(f'--resume without a path, but {pointer} does not exist, so training starts from scratch although '
                  f'{found[0]} exists; pass it to --resume to continue from it.', logger='current',
                  level=logging.WARNING)
    return None, ''


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def training_checkpoint_problem(ckpt: dict[str, Any], path: str) -> str | None:
    """Why the dict read from ``path`` cannot be resumed from (not a training checkpoint), or ``None``."""
    if not isinstance(ckpt.get('state_dict'), dict):
        return 'it holds no "state_dict" (not an mmengine training checkpoint) — give a checkpoint written by ' \
               'tools/train.py'
    missing = [k for k in TRAINING_KEYS if k not in ckpt]
    if missing:
        return (f'it holds model weights only (no {", ".join(missing)}: a published, converted or weights-only file) '
                f'— to start a new run from these weights use --cfg-options load_from={path} without --resume')
    return None


def check_state_dict_fits(state_dict: dict[str, Any], model: nn.Module, path: str, config: str) -> None:
    """Refuse (do not train on mixed weights) when the checkpoint's tensors differ from the model's by name or
    shape: :func:`simsiam_mm.checkpoint.check_weights`, strict."""
    try:
        check_weights(_unwrap(model), state_dict, path, min_fraction=1.0, strict=True)
    except CheckpointError as e:
        detail = str(e).removeprefix(f'{path}: ')
        raise CheckpointError(f'{path}: was saved by another architecture than the model of {config}: {detail}; '
                              'nothing was trained.') from None


def resumable(path: str, model: nn.Module | None = None) -> bool:
    """Whether ``path`` passes the whole resume check (read, training keys and, given ``model``, the fit): the
    test a checkpoint must pass to be offered in place of a bad one."""
    try:
        ckpt = read_checkpoint(path, READ_AS)
        if training_checkpoint_problem(ckpt, path) is not None:
            return False
        if model is not None:
            check_weights(_unwrap(model), ckpt['state_dict'], path, min_fraction=1.0, strict=True)
    except CheckpointError:
        return False
    return True


def previous_complete(path: str, model: nn.Module | None = None) -> str | None:
    """The newest checkpoint beside ``path`` (not ``path`` itself) that passes :func:`resumable`."""
    for other in checkpoints_in(osp.dirname(path) or '.'):
        if osp.abspath(other) != osp.abspath(path) and resumable(other, model):
            return other
    return None


def read_resume_checkpoint(path: str, source: str = '--resume', model: nn.Module | None = None) -> dict[str, Any]:
    """Read ``path`` once and check it is a training checkpoint; raise :class:`CheckpointError` naming it (and
    ``source``, where the path came from) and the newest neighbour that passes :func:`resumable` otherwise."""
    try:
        ckpt = read_checkpoint(path, READ_AS)
    except CheckpointError as e:
        problem = str(e).removeprefix(f'{path}: cannot read the {READ_AS}: ')
        previous = previous_complete(path, model)
        offer = (f'the previous complete checkpoint is {previous}: resume from it with `python tools/train.py CONFIG '
                 f'--resume {previous}`' if previous else
                 'no other complete checkpoint lies beside it: start the run again without --resume')
        raise CheckpointError(f'{path} (from {source}): cannot resume: {problem} — {offer}') from e
    problem = training_checkpoint_problem(ckpt, path)
    if problem is not None:
        previous = previous_complete(path, model)
        offer = f'; or continue the run from the previous complete checkpoint {previous}' if previous else ''
        raise CheckpointError(f'{path} (from {source}): cannot resume: {problem}{offer}')
    return ckpt


def _check_dataset_size(ckpt: dict, cfg: Config, num_batches: int, num_samples: int, path: str) -> None:
    saved = (ckpt.get('resume_state') or {}).get('dataset_size')
    if saved is not None and saved != num_samples:
        raise DataError(f'{path}: was saved while training on {saved} samples; train_dataloader.dataset now has '
                        f'{num_samples} — resume with the same data, or start a new run from its weights with '
                        f'--cfg-options load_from={path} (without --resume).')
    meta = ckpt.get('meta') or {}
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_epochs' not in train_cfg or num_batches <= 0:
        return
    done = int(meta.get('iter', 0)) - int(meta.get('epoch', 0)) * num_batches  # == num_batches: saved after the
    if not 0 <= done <= num_batches:  # epoch's last iteration, before the epoch counter moved on
        raise DataError(f'{path}: iteration {meta.get("iter")} at epoch {meta.get("epoch")} does not fit the '
                        f'{num_batches} batches per epoch of train_dataloader now (the dataset or batch size changed '
                        f'since it was saved) — resume with the same data and batch size, or start a new run with '
                        f'--cfg-options load_from={path} (without --resume).')


def completed_message(ckpt: dict, cfg: Config, path: str, num_batches: int) -> str | None:
    """A sentence saying the run is already complete, or ``None`` if there is training left. An epoch-based run is
    complete at ``max_epochs`` epochs or ``max_epochs x num_batches`` iterations (a checkpoint saved by iteration
    after the last batch still says the epoch before)."""
    meta, train_cfg = ckpt.get('meta') or {}, cfg.get('train_cfg') or {}
    epochs_done = int(meta.get('epoch', 0))
    if num_batches > 0 and int(meta.get('iter', 0)) >= (epochs_done + 1) * num_batches:
        epochs_done += 1
    if 'max_epochs' in train_cfg and epochs_done >= train_cfg['max_epochs']:
        return (f'{path}: the run is already complete (epoch {epochs_done} of {train_cfg["max_epochs"]}); '
                'nothing to train. Raise train_cfg.max_epochs to train longer.')
    if 'max_iters' in train_cfg and int(meta.get('iter', 0)) >= train_cfg['max_iters']:
        return (f'{path}: the run is already complete (iteration {meta.get("iter")} of {train_cfg["max_iters"]}); '
                'nothing to train. Raise train_cfg.max_iters to train longer.')
    return None


def decide_resume(cfg: Config, runner) -> str | None:
    """The resume decision for ``runner`` (built from ``cfg``): resolve the checkpoint once, read and check it once,
    check it against the run, and hand it to the runner (:meth:`~simsiam_mm.engine.SimSiamRunner.resume_with`).

    Returns a sentence when the run is already complete (nothing to train), else ``None``. Raises
    :class:`CheckpointError` / :class:`DataError` naming the file. Without ``resume`` nothing is read; with
    ``resume`` and no checkpoint the runner starts from scratch (:meth:`~simsiam_mm.engine.SimSiamRunner.start_fresh`).
    """
    if not cfg.get('resume'):
        return None
    path, source = resume_path(cfg)
    if path is None:
        runner.start_fresh()
        return None
    ckpt = read_resume_checkpoint(path, source, runner.model)
    check_state_dict_fits(ckpt['state_dict'], runner.model, path, cfg.filename or 'the config')
    loader = runner.train_loop.dataloader
    done = completed_message(ckpt, cfg, path, len(loader))
    if done is not None:
        return done
    _check_dataset_size(ckpt, cfg, len(loader), len(loader.dataset), path)
    runner.resume_with(path, ckpt)
    return None


def check_train_data(runner) -> None:
    """Refuse a train dataloader that yields no batch (a dataset smaller than one batch with ``drop_last``): the run
    would train 0 iterations, save a checkpoint and exit 0."""
    loader = runner.train_loop.dataloader
    if len(loader) > 0:
        return
    size, batch = len(loader.dataset), loader.batch_size
    raise DataError(f'train_dataloader.dataset: {size} samples give no full batch of train_dataloader.batch_size='
                    f'{batch} per process (drop_last) — use more data or a batch size of at most {max(size, 1)}; '
                    'nothing was trained.')
