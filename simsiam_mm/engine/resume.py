"""Resuming a run: a CheckpointHook that survives a kill at any moment and resumes a run exactly, even mid-epoch
(:class:`ResumableCheckpointHook`), and the checks made before any training step (:func:`check_resume`).

Check that a run can be resumed from its checkpoint before any training step: the file is a training checkpoint
(not a model-only or published one), its tensors fit the built model by name and shape, the dataset still has the
size the checkpoint was saved with, and the run is not already complete.

Without these checks mmengine logs "size mismatch" lines and keeps training on a mix of loaded and random weights,
fails with ``KeyError: 'message_hub'`` for a published file, or stops inside the sampler with ``skip=… outside …``.
"""
import logging
import os
import os.path as osp
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from torch import nn

from simsiam_mm.checkpoint import (
    TMP_SUFFIX,
    atomic_write_text,
    check_resume_checkpoint,
    check_weights,
    checkpoints_in,
    commit_file,
    read_checkpoint,
)
from simsiam_mm.engine.random_state import (
    gather_generator_states,
    generator_states,
    restore_generator_states,
    unresumable_steps,
)
from simsiam_mm.errors import CheckpointError, DataError, WorkDirError
from simsiam_mm.quiet import dropped_log_messages
from simsiam_mm.registry import HOOKS

# what mmengine logs when CheckpointHook.before_train and save_checkpoint build an unused FileClient
FILE_CLIENT_DEPRECATIONS = ('"FileClient" will be deprecated in future.',
                            '"HardDiskBackend" is the alias of "LocalBackend"')


@HOOKS.register_module()
class ResumableCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) with three guarantees for runs that are killed and resumed.

    1. **Atomic files.** Each checkpoint is written to ``<name>.tmp``, flushed, and renamed over ``<name>``;
       ``last_checkpoint`` is replaced the same way, and only then is the oldest checkpoint beyond
       ``max_keep_ckpts`` deleted (mmengine deletes it first). A kill during saving leaves the previous checkpoint
       and a ``last_checkpoint`` naming it.
    2. **Exact resume.** A checkpoint holds, besides mmengine's model, optimizer, parameter schedulers and message
       hub, ``checkpoint['resume_state']``: the sampler seed (for runs whose seed was drawn at random), the dataset
       size (checked on resume) and the state of every generator the model owns (``generators``, one set per
       process: the views that :class:`~simsiam_mm.models.BatchAugDataPreprocessor` makes and colours batched);
       :mod:`simsiam_mm.engine.random_state` says what a run draws at random. On resume from a checkpoint saved
       mid-epoch (``by_epoch=False``) the :class:`~simsiam_mm.datasets.ResumableSampler` skips the samples already
       trained on (mmengine would replay the epoch from its start); the per-sample augmentations follow by
       themselves, their generators being seeded from (sampler seed, epoch, index) by
       :class:`~simsiam_mm.datasets.SeedSampleRNG`, the first pipeline step, with any number of (persistent)
       workers. The losses continue bit for bit as in the uninterrupted run. A run that draws from a source no
       checkpoint restores (a random pipeline step without per-sample seeds, dropout, ...) says so in a warning
       before its first iteration, naming the step and what to do.
    3. **Checked input.** Resuming from a missing, truncated or corrupt file stops before anything is built, with a
       message naming the file and the newest complete checkpoint beside it.

    Config (``configs/_base_/default_runtime.py``)::

        default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook', interval=1000, by_epoch=False))
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._resume_state: dict | None = None
        self._generator_states: list[dict] | None = None  # gathered from every process for the next save

    # ---- checking the checkpoint to resume from ----------------------------------------------------------------
    def before_run(self, runner) -> None:
        super().before_run(runner)
        if not runner._resume:
            return
        if runner._load_from is not None:
            check_resume_checkpoint(runner._load_from, source='--resume / load_from')
            return
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.isfile(pointer):
            with open(pointer) as f:
                check_resume_checkpoint(f.read().strip(), source=pointer)
        elif checkpoints_in(runner.work_dir):
            print_log(f'ResumableCheckpointHook: --resume without a path, but {pointer} does not exist, so training '
                      f'starts from scratch although {checkpoints_in(runner.work_dir)[0]} exists; pass it to --resume '
                      'to continue from it.', logger='current', level=logging.WARNING)

    def _unused_file_client(self, runner) -> AbstractContextManager:
        """Without ``file_client_args`` mmengine still builds a ``FileClient`` it never uses (in ``before_train``
        and ``save_checkpoint``): drop its deprecation notices, which the user cannot act on."""
        if self.file_client_args is not None:
            return nullcontext()
        return dropped_log_messages(runner.logger, *FILE_CLIENT_DEPRECATIONS)

    def before_train(self, runner) -> None:
        with self._unused_file_client(runner):
            super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend, LocalBackend) and osp.isdir(self.out_dir):
            for name in os.listdir(self.out_dir):  # left by a kill during saving
                if name.endswith('.pth' + TMP_SUFFIX):
                    os.remove(osp.join(self.out_dir, name))
        self._prepare_resume(runner)
        epoch_based = isinstance(runner.train_loop, EpochBasedTrainLoop)
        for problem in unresumable_steps(runner.model, runner.train_dataloader, epoch_based, self.by_epoch):
            print_log(f'ResumableCheckpointHook: this run cannot be resumed exactly. {problem}', logger='current',
                      level=logging.WARNING)

    # ---- saving ------------------------------------------------------------------------------------------------
    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        atomic = isinstance(self.file_backend, LocalBackend)  # object stores make a PUT visible only when complete
        self._generator_states = gather_generator_states(runner.model)  # every process: before_save_checkpoint
        try:                                                             # runs on the main process only
            with self._unused_file_client(runner):
                runner.save_checkpoint(  # writes on the main process only
                    self.out_dir, ckpt_filename + TMP_SUFFIX if atomic else ckpt_filename, self.file_client_args,
                    save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler, meta=meta,
                    by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        except (OSError, RuntimeError) as e:  # torch.save reports a failed write as RuntimeError
            self._failed_save(runner, e)
        if not is_main_process():
            return
        if atomic:
            commit_file(self.last_ckpt + TMP_SUFFIX, self.last_ckpt)
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        if outdated is not None:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed saves directories
                self.file_backend.rmtree(path)

    def _failed_save(self, runner, error: Exception) -> None:
        """Remove the partial ``.tmp`` file and stop with one sentence; the previous checkpoint stays intact."""
        tmp = self.last_ckpt + TMP_SUFFIX
        if is_main_process() and isinstance(self.file_backend, LocalBackend) and osp.exists(tmp):
            os.remove(tmp)
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        previous = open(pointer).read().strip() if osp.isfile(pointer) else None
        kept = (f'the previous checkpoint {previous} and last_checkpoint are unchanged' if previous
                else 'no earlier checkpoint of this run exists')
        detail = getattr(error, 'strerror', None) or str(error).strip().splitlines()[-1][:160]
        raise WorkDirError(f'{self.last_ckpt}: writing the checkpoint failed ({detail}); the partial file was '
                           f'removed and {kept} — free disk space (or choose another --work-dir) and resume with '
                           '--resume.') from error

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        dataset = getattr(runner.train_dataloader, 'dataset', None)
        generators, self._generator_states = self._generator_states, None
        checkpoint['resume_state'] = dict(
            sampler_seed=getattr(sampler, 'seed', None),
            dataset_size=len(dataset) if hasattr(dataset, '__len__') else None,  # checked on resume
            generators=generators if generators is not None else [generator_states(runner.model)])  # this process's

    # ---- resuming ----------------------------------------------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if runner._resume:
            pointer = osp.join(runner.work_dir, 'last_checkpoint')
            path = runner._load_from or (open(pointer).read().strip() if osp.isfile(pointer) else 'the checkpoint')
            self._resume_state = dict(checkpoint.get('resume_state') or {}, path=path)

    def _prepare_resume(self, runner) -> None:
        state, self._resume_state = self._resume_state, None
        if state is None:
            return
        loader = runner.train_dataloader
        sampler = loader.sampler
        if state.get('sampler_seed') is not None and hasattr(sampler, 'seed'):
            sampler.seed = state['sampler_seed']
        for problem in restore_generator_states(runner.model, state.get('generators'), state['path']):
            print_log(f'ResumableCheckpointHook: {problem}', logger='current', level=logging.WARNING)
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            return  # mmengine's IterBasedTrainLoop replays the batches already trained on: the same data
        done = runner.iter - runner.epoch * len(loader)  # batches of this epoch already trained
        if done == 0:  # saved at the end of an epoch: the next epoch starts at its beginning anyway
            return
        if not hasattr(sampler, 'resume') or loader.batch_size is None:
            print_log(f'ResumableCheckpointHook: checkpoint saved after {done} of {len(loader)} batches of epoch '
                      f'{runner.epoch + 1}, but {type(sampler).__name__} cannot start mid-epoch, so that epoch is '
                      "replayed from its start. Use train_dataloader.sampler=dict(type='ResumableSampler').",
                      logger='current', level=logging.WARNING)
            return
        sampler.resume(done * loader.batch_size)
        print_log(f'ResumableCheckpointHook: resuming epoch {runner.epoch + 1} at batch {done + 1}/{len(loader)} '
                  f'(iteration {runner.iter + 1}).', logger='current', level=logging.INFO)


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
