"""Check that a run can be resumed from its checkpoint before any training step: the file is a training checkpoint
(not a model-only or published one), its tensors fit the built model by name and shape, the dataset still has the
size the checkpoint was saved with, and the run is not already complete.

Without these checks mmengine logs "size mismatch" lines and keeps training on a mix of loaded and random weights,
fails with ``KeyError: 'message_hub'`` for a published file, or stops inside the sampler with ``skip=… outside …``.
"""
import os.path as osp
from typing import Any

from mmengine.config import Config
from mmengine.model import is_model_wrapper
from torch import nn

from simsiam_mm.checkpoint import check_resume_checkpoint, check_weights, read_checkpoint
from simsiam_mm.errors import CheckpointError, DataError

def resume_path(cfg: Config) -> tuple[str | None, str]:
    """The checkpoint a ``resume=True`` config continues from, and where that path came from."""
    if not cfg.get('resume'):
        return None, ''
    if cfg.get('load_from'):
        return cfg.load_from, '--resume'
    pointer = osp.join(cfg.work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            return f.read().strip(), pointer
    return None, ''


def _load(path: str) -> dict[str, Any]:
    ckpt = read_checkpoint(path, 'checkpoint to resume from')
    if not isinstance(ckpt.get('state_dict'), dict):
        raise CheckpointError(f'{path}: holds no "state_dict" (not an mmengine training checkpoint) — give a '
                              'checkpoint written by tools/train.py.')
    return ckpt


def check_state_dict_fits(state_dict: dict[str, Any], model: nn.Module, path: str, config: str) -> None:
    """Refuse (do not train on mixed weights) when the checkpoint's tensors differ from the model's by name or
    shape: :func:`simsiam_mm.checkpoint.check_weights`, strict."""
    model = model.module if is_model_wrapper(model) else model
    try:
        check_weights(model, state_dict, path, min_fraction=1.0, strict=True)
    except CheckpointError as e:
        detail = str(e).removeprefix(f'{path}: ')
        raise CheckpointError(f'{path}: was saved by another architecture than the model of {config}: {detail}; '
                              'nothing was trained.') from None


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


def check_resume(cfg: Config, runner) -> str | None:
    """Check the checkpoint ``runner`` (built from ``cfg``, ``resume=True``) would resume from; raise
    :class:`CheckpointError` / :class:`DataError` naming it, or return a message when the run is already complete
    (``None``: resume as usual). Does nothing without ``resume``."""
    path, source = resume_path(cfg)
    if path is None:
        return None
    check_resume_checkpoint(path, source=source)
    ckpt = _load(path)
    missing = [k for k in ('meta', 'message_hub', 'optimizer') if k not in ckpt]
    if missing:
        raise CheckpointError(f'{path}: holds model weights only (no {", ".join(missing)}: a published, converted '
                              'or weights-only file) and cannot be resumed — to start a new run from these weights '
                              f'use --cfg-options load_from={path} without --resume.')
    check_state_dict_fits(ckpt['state_dict'], runner.model, path, cfg.filename or 'the config')
    loader = runner.train_loop.dataloader
    done = completed_message(ckpt, cfg, path, len(loader))
    if done is not None:
        return done
    _check_dataset_size(ckpt, cfg, len(loader), len(loader.dataset), path)
    return None


def check_train_data(cfg: Config, runner) -> None:
    """Refuse a train dataloader that yields no batch (a dataset smaller than one batch with ``drop_last``): the run
    would train 0 iterations, save a checkpoint and exit 0."""
    loader = runner.train_loop.dataloader
    if len(loader) > 0:
        return
    size, batch = len(loader.dataset), loader.batch_size
    raise DataError(f'train_dataloader.dataset: {size} samples give no full batch of train_dataloader.batch_size='
                    f'{batch} per process (drop_last) — use more data or a batch size of at most {max(size, 1)}; '
                    'nothing was trained.')
