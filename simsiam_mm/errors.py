"""Exceptions for bad input, and the one error boundary every command-line entry point runs inside.

Every exception the package raises for bad input is a :class:`SimSiamMMError`; its message is one sentence of the
form ``<culprit (file or config key)>: <what is wrong> — <what to do>``. :func:`cli_main` turns it (and an
``OSError`` about a path the user gave, or a config file with a syntax error) into one line on stderr and exit
status 1; the traceback only with ``--debug``. The original exception, where there is one, stays attached as
``__cause__``.

This module is the bottom layer: it imports nothing from the rest of the package.
"""
import argparse
import errno
import functools
import os
import os.path as osp
import sys
import traceback
from collections.abc import Callable
from typing import Any

DEBUG_FLAG = '--debug'
ERROR_DIR_ENV = 'SIMSIAM_MM_ERROR_DIR'  # set by the torchrun wrapper: each failing rank leaves its line there


class SimSiamMMError(Exception):
    """Base class: a problem with the user's input (config, data, checkpoint, paths), not a bug in the code."""


class ConfigError(SimSiamMMError, ValueError):
    """A config key, registry type or value that cannot work (the message names the key and close valid names)."""


class DataError(SimSiamMMError, ValueError):
    """A dataset that cannot train as configured (too small for one batch, changed size since the checkpoint)."""


class CorruptImageError(SimSiamMMError, OSError):
    """An image file that cannot be decoded (truncated, not an image), or too many of them skipped."""


class ImageTooLargeError(SimSiamMMError, OSError):
    """An image above the pixel limit that guards against decompression bombs: not corrupt, refused until allowed."""


class CheckpointError(SimSiamMMError, RuntimeError):
    """A checkpoint that is truncated, missing, or whose weights match nothing in the model."""


class ConversionError(SimSiamMMError, ValueError):
    """A checkpoint cannot be converted (no backbone keys, shape mismatch, unknown layout); names the file or key."""


class MissingPathError(SimSiamMMError, FileNotFoundError):
    """A file or folder the user named (a data root, a split list, a checkpoint) does not exist."""


class WorkDirError(SimSiamMMError, OSError):
    """A work dir (or output path) that cannot be written: a file, under a file, read-only, or a full disk."""


class NonFiniteLossError(SimSiamMMError, FloatingPointError):
    """Training produced a NaN/Inf loss and was stopped before any NaN weights were saved."""


class TrainingStoppedError(SimSiamMMError, RuntimeError):
    """A monitor stopped training on purpose (e.g. the representation collapsed)."""


def user_message(error: BaseException) -> str:
    """The sentence to show for ``error``. An error raised in a DataLoader worker reaches the main process re-wrapped
    by torch as ``Caught X in DataLoader worker process N.\nOriginal Traceback ...``; its own sentence is the last
    line, which is returned with the worker named.

    Examples:
        >>> user_message(CorruptImageError('a.jpg: the image is truncated or corrupt.'))
        'a.jpg: the image is truncated or corrupt.'
    """
    msg = str(error)
    if 'Original Traceback' not in msg:
        return msg
    first, last = msg.splitlines()[0], msg.rstrip().splitlines()[-1]
    return f'{last.split(": ", 1)[-1]} ({first.rstrip(".").replace("Caught ", "raised as ")})'


_OS_ADVICE = {
    errno.ENOENT: ('does not exist', 'check the path (a typo, or a relative path from another folder?)'),
    errno.ENOTDIR: ('a part of this path is a file, not a folder', 'choose a path whose parents are folders'),
    errno.EEXIST: ('exists and is not a folder', 'choose an output path whose parents are folders'),
    errno.EISDIR: ('is a folder, not a file', 'give the path of the file inside it'),
    errno.EACCES: ('permission denied', 'choose a location you can read and write, or fix its permissions'),
    errno.EPERM: ('operation not permitted', 'choose a location you can read and write, or fix its permissions'),
    errno.EROFS: ('is on a read-only file system', 'choose a writable location (e.g. --work-dir on another disk)'),
    errno.ENOSPC: ('no space left on the device', 'free disk space or write to another disk; nothing partial was '
                   'kept'),
    errno.EFBIG: ('file too large for the file system or the file-size limit', 'free space, raise the limit '
                  '(ulimit -f) or write to another disk'),
    errno.EDQUOT: ('disk quota exceeded', 'free space within your quota or write to another disk'),
}


def os_error_message(error: OSError) -> str:
    """One sentence for an ``OSError`` about a path: ``<path>: <what is wrong> — <what to do>``."""
    what, todo = _OS_ADVICE.get(error.errno, (error.strerror or str(error), 'check the path'))
    path = error.filename if error.filename is not None else '(path unknown)'
    return f'{path}: {what} — {todo}.'


def known_error_message(error: BaseException) -> str | None:
    """The one-line message for a known failure, or ``None`` for anything else (a bug: keep its traceback)."""
    if isinstance(error, SimSiamMMError):
        return ' '.join(user_message(error).split())
    if isinstance(error, OSError) and (error.filename is not None or error.errno in (errno.ENOSPC, errno.EROFS)):
        return os_error_message(error)
    if isinstance(error, FileNotFoundError):  # raised with a sentence instead of (errno, strerror, filename)
        return f'{" ".join(str(error).split())} — check the path.'
    if isinstance(error, SyntaxError) and error.filename and error.filename != '<unknown>':
        return f'{error.filename}:{error.lineno}: Python syntax error in the config ({error.msg}) — fix that line.'
    return None


def add_debug_flag(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--debug`` (show the traceback of a known failure instead of one line) to a tool's parser."""
    parser.add_argument(DEBUG_FLAG, action='store_true',
                        help='on a known failure (bad config, data, checkpoint, path) show the full traceback '
                             'instead of one line')
    return parser


def int_at_least(minimum: int, hint: str = '') -> Callable[[str], int]:
    """An argparse ``type``: a whole number >= ``minimum``; otherwise argparse's one line (exit status 2), e.g.
    ``error: argument --k: must be a whole number >= 1, got 0``, followed by ``hint``.

    Examples:
        >>> int_at_least(0)('3')
        3
    """
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f'must be a whole number >= {minimum}, got {text!r}'
                                             + (f' ({hint})' if hint else ''))
        return value
    parse.__name__ = f'int>={minimum}'
    return parse


def _rank_label() -> str:
    rank = os.environ.get('RANK') if os.environ.get('WORLD_SIZE', '1') != '1' else None
    return f'[rank {rank}] ' if rank is not None else ''


def report_failure(message: str, prog: str) -> None:
    """Print the line on stderr and, under our torchrun wrapper, leave it for the wrapper to print last."""
    line = f'{_rank_label()}{prog}: error: {message}'
    error_dir = os.environ.get(ERROR_DIR_ENV)
    if error_dir and osp.isdir(error_dir):
        with open(osp.join(error_dir, f'rank{os.environ.get("RANK", "0")}.txt'), 'w') as f:
            f.write(line + '\n')
    print(line, file=sys.stderr, flush=True)


def cli_main(main: Callable[..., Any]) -> Callable[..., Any]:
    """The error boundary of a command-line tool: decorate its ``main``.

    A known failure (:func:`known_error_message`) ends as one line ``<tool>: error: <culprit>: <what> — <what to
    do>`` on stderr and ``SystemExit(1)``; with ``--debug`` on the command line the exception propagates with its
    traceback. Anything else (a bug) propagates unchanged. ``main``'s return value is returned (an ``int`` is not
    treated as an exit status: call ``sys.exit(main())`` for that).

    Examples:
        >>> @cli_main
        ... def main(argv=None):
        ...     raise ConfigError('train_dataloader.batch_size=\\'abc\\': not an integer — give a number.')
    """
    @functools.wraps(main)
    def boundary(*args: Any, **kwargs: Any) -> Any:
        argv = args[0] if args and isinstance(args[0], list) else kwargs.get('argv')
        argv = sys.argv[1:] if argv is None else argv
        try:
            return main(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 (only known failures are reduced; the rest re-raises)
            message = known_error_message(e)
            if message is None:
                raise
            if DEBUG_FLAG in argv:
                traceback.print_exc()
            report_failure(message, osp.basename(sys.argv[0]))
            raise SystemExit(1) from None
    return boundary
