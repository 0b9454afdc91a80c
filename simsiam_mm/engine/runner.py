"""Our Runner: checked checkpoint loads and readable training output (a first log line, with its ETA, after
iteration 1; short start-up dumps).

mmengine's ``Runner`` prints the whole environment, the whole config and the hook order per stage (hundreds of
lines) before the first iteration, and ``LoggerHook`` prints nothing until ``interval`` iterations have passed.
:class:`EarlyLoggerHook` adds one line after the first iteration of a run (or of a resumed run), and
:class:`SimSiamRunner` shows each start-up dump on the console as one summary line; the log file keeps them in full.
It also loads every checkpoint (``load_from``, ``tools/test.py``'s CHECKPOINT, ``--resume``) through the one checked
loader, :mod:`simsiam_mm.checkpoint`, instead of mmengine's ``strict=False`` path, and resumes from a checkpoint the
start-up already read (:meth:`SimSiamRunner.resume_with`) without reading it again.

:class:`CPUDistributedDataParallel` is the model wrapper the Runner uses for DDP on CPU processes (gloo).
"""
import logging
import re

from mmengine.hooks import LoggerHook
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, is_model_wrapper, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.runner import IterBasedTrainLoop, Runner
from torch import nn

from simsiam_mm.checkpoint import load_checked, read_checkpoint, state_dict_of
from simsiam_mm.errors import CheckpointError
from simsiam_mm.registry import HOOKS, RUNNERS

ENV_DUMP = '\n' + '-' * 60 + '\nSystem environment:'
CONFIG_DUMP = 'Config:\n'
HOOKS_DUMP = 'Hooks will be executed in the following order:'
ENV_KEYS = ('Python', 'PyTorch', 'CUDA available', 'MMEngine', 'seed', 'Distributed launcher', 'GPU number')


@HOOKS.register_module()
class EarlyLoggerHook(LoggerHook):
    """mmengine's ``LoggerHook`` (same arguments) that also logs after the first iteration, ETA included, and, in an
    ``IterBasedTrainLoop``, only every ``interval`` iterations (mmengine also logs at iteration ``len(dataloader)``,
    the end of an "epoch" such a loop does not have)."""

    def before_train(self, runner) -> None:
        self._first_iter = runner.iter  # 0, or where a resumed run starts
        self._iter_based = isinstance(runner.train_loop, IterBasedTrainLoop)

    def end_of_epoch(self, dataloader, batch_idx: int) -> bool:
        return not getattr(self, '_iter_based', False) and super().end_of_epoch(dataloader, batch_idx)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if runner.iter == getattr(self, '_first_iter', 0) and not self._logs_anyway(runner, batch_idx):
            tag, log_str = runner.log_processor.get_log_after_iter(runner, batch_idx, 'train')
            runner.logger.info(log_str)
            runner.visualizer.add_scalars(tag, step=runner.iter + 1, file_path=self.json_log_path)
        super().after_train_iter(runner, batch_idx, data_batch, outputs)

    def _logs_anyway(self, runner, batch_idx: int) -> bool:
        """Whether ``LoggerHook.after_train_iter`` logs this iteration itself (same test as mmengine's)."""
        return self.every_n_inner_iters(batch_idx, self.interval) or (
            self.end_of_epoch(runner.train_dataloader, batch_idx)
            and (not self.ignore_last or len(runner.train_dataloader) <= self.interval))


def summarize_startup(message: str, log_file: str) -> str | None:
    """One console line for a start-up dump of mmengine's Runner, or None when ``message`` is no such dump."""
    where = f'(in full in {log_file})' if log_file else ''
    if message.startswith(ENV_DUMP):
        found = dict(re.findall(r'^ {4}([^:\n]+): (.*)$', message, flags=re.M))
        env = ', '.join(f'{k} {found[k].split(" (")[0]}' for k in ENV_KEYS if k in found)
        return f'Environment: {env} {where}'
    if message.startswith(CONFIG_DUMP):
        return f'Config: {message.count(chr(10))} lines {where}'
    if message.startswith(HOOKS_DUMP):
        names = list(dict.fromkeys(re.findall(r'^\(\w+\s*\) (\w+)', message, flags=re.M)))
        return f'Hooks: {", ".join(names)} {where}'
    return None


class StartupDigestFormatter(logging.Formatter):
    """Formats as ``inner`` does, but shows each start-up dump (:func:`summarize_startup`) as one line."""

    def __init__(self, inner: logging.Formatter, log_file: str) -> None:
        super().__init__()
        self.inner, self.log_file = inner, log_file

    def format(self, record: logging.LogRecord) -> str:
        short = summarize_startup(record.getMessage(), self.log_file)
        if short is None:
            return self.inner.format(record)
        copy = logging.makeLogRecord(record.__dict__)  # the file handler formats the original record
        copy.msg, copy.args = short, ()
        return self.inner.format(copy)


def shorten_console_startup(logger: logging.Logger) -> None:
    """Give ``logger``'s console handlers a :class:`StartupDigestFormatter` (once); file handlers stay in full."""
    files = [h.baseFilename for h in logger.handlers if isinstance(h, logging.FileHandler)]
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) or isinstance(handler.formatter, StartupDigestFormatter):
            continue
        inner = handler.formatter or logging.Formatter()
        handler.setFormatter(StartupDigestFormatter(inner, files[0] if files else ''))


@RUNNERS.register_module()
class SimSiamRunner(Runner):
    """mmengine's ``Runner`` with checked checkpoint loads, whose console shows the environment, config and hook
    dumps as one line each.

    Every checkpoint goes through :func:`simsiam_mm.checkpoint.read_checkpoint` and
    :func:`~simsiam_mm.checkpoint.load_checked`: names and shapes are compared with the model, the count is logged
    (``load_from x.pth: 122/122 tensors of SimSiam loaded``), and a file that does not fit is refused naming it. A
    resumed checkpoint must fit exactly (every tensor, no extra one); a ``load_from`` file must supply every tensor of
    the model (:attr:`load_from_min_fraction`): a head left at random initialisation is refused, not logged.
    """

    #: the least fraction of the model's tensors a ``load_from`` checkpoint must supply
    load_from_min_fraction: float = 1.0

    def build_logger(self, *args, **kwargs):
        logger = super().build_logger(*args, **kwargs)
        shorten_console_startup(logger)
        return logger

    def resume_with(self, path: str, checkpoint: dict) -> None:
        """Resume from ``checkpoint``, already read from ``path`` and checked (:mod:`simsiam_mm.apis.resume`):
        mmengine's ``resume`` takes this dict instead of reading the file again."""
        self._resume, self._load_from = True, path
        self._read_checkpoint = (path, checkpoint)

    def start_fresh(self) -> None:
        """Train from scratch: ``resume=True`` found no checkpoint (mmengine would look for one again)."""
        self._resume, self._load_from = False, None

    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = False, revise_keys: list = ()):
        """mmengine's ``load_checkpoint`` through the checked loader (``map_location``, ``strict`` and
        ``revise_keys`` are accepted for mmengine's callers: tensors are read on the CPU and copied into the model's;
        a ``module.`` prefix is removed; the strictness is ours, see the class)."""
        handed = getattr(self, '_read_checkpoint', None)
        if handed is not None and handed[0] == filename:
            checkpoint, self._read_checkpoint = handed[1], None
        else:
            checkpoint = read_checkpoint(filename, 'checkpoint to resume from' if self._resume else 'checkpoint')
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        what = '--resume' if self._resume else 'load_from'
        try:
            check = load_checked(model, state_dict_of(checkpoint, filename), filename,
                                 min_fraction=1.0 if self._resume else self.load_from_min_fraction,
                                 strict=self._resume)
        except CheckpointError as e:
            hint = '' if self._resume else (
                "; to start only the backbone from it, set model.backbone.init_cfg=dict(type='CheckedPretrained', "
                f"checkpoint='{filename}', prefix='backbone.') instead of load_from")
            raise CheckpointError(f'{e} ({what}: nothing was loaded{hint})') from None
        self._has_loaded = True
        self.logger.info(f'{what} {filename}: {check.summary()}')
        return checkpoint


# Registered in mmengine's root registry: ``Runner.wrap_model`` looks the wrapper type up there by plain name
# (``MODEL_WRAPPERS.get``, no scope switching), which cannot reach a registry two levels down such as ours.
@MMENGINE_MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for a model on the CPU: SyncBN (CUDA-only in torch) becomes plain BN, with a
    logged note, and ``device_ids`` (which the Runner sets to the local rank) is dropped, as torch requires for CPU
    modules. ``tools/train.py`` selects it when CUDA is absent."""

    def __init__(self, module: nn.Module, device_ids=None, broadcast_buffers: bool = False, **kwargs) -> None:
        if any(isinstance(m, nn.SyncBatchNorm) for m in module.modules()):
            print_log('CPUDistributedDataParallel: SyncBN needs CUDA; converted every SyncBN to BN, so each process '
                      'normalises over its own batch.', logger='current', level=logging.WARNING)
            module = revert_sync_batchnorm(module)
        super().__init__(module=module, device_ids=None, broadcast_buffers=broadcast_buffers, **kwargs)
