"""Resuming a run: a CheckpointHook that survives a kill at any moment and resumes a run exactly, even mid-epoch
(:class:`ResumableCheckpointHook`). Which checkpoint to resume from, and whether it can be, is decided once before
the Runner trains, in :mod:`simsiam_mm.apis.resume`.
"""
import logging
import os
import os.path as osp
from contextlib import AbstractContextManager, nullcontext

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from simsiam_mm.checkpoint import (
    TMP_SUFFIX,
    atomic_write_text,
    commit_file,
)
from simsiam_mm.engine.random_state import (
    gather_generator_states,
    generator_states,
    restore_generator_states,
    unresumable_steps,
)
from simsiam_mm.errors import WorkDirError
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
