"""Training output a person can read: a first log line (with its ETA) after iteration 1, short start-up dumps.

mmengine's ``Runner`` prints the whole environment, the whole config and the hook order per stage (hundreds of
lines) before the first iteration, and ``LoggerHook`` prints nothing until ``interval`` iterations have passed.
:class:`EarlyLoggerHook` adds one line after the first iteration of a run (or of a resumed run), and
:class:`SimSiamRunner` shows each start-up dump on the console as one summary line; the log file keeps them in full.

:class:`CPUDistributedDataParallel` is the model wrapper the Runner uses for DDP on CPU processes (gloo).
"""
import logging
import re

from mmengine.hooks import LoggerHook
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.runner import IterBasedTrainLoop, Runner
from torch import nn

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
    """mmengine's ``Runner`` whose console shows the environment, config and hook dumps as one line each."""

    def build_logger(self, *args, **kwargs):
        logger = super().build_logger(*args, **kwargs)
        shorten_console_startup(logger)
        return logger


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
