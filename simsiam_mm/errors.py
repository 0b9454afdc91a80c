"""Exceptions for bad input: each message starts with our sentence naming the file or config key at fault.

``tools/train.py`` prints these as a one-paragraph error instead of a traceback from deep inside a dependency; the
original exception, where there is one, stays attached as ``__cause__`` for debugging.
"""


class SimSiamMMError(Exception):
    """Base class: a problem with the user's input (config, data, checkpoint), not a bug in the code."""


class ConfigError(SimSiamMMError, ValueError):
    """A config key, registry type or value that cannot work (the message names the key and close valid names)."""


class CorruptImageError(SimSiamMMError, OSError):
    """An image file that cannot be decoded (truncated, not an image), or too many of them skipped."""


class CheckpointError(SimSiamMMError, RuntimeError):
    """A checkpoint that is truncated, missing, or whose weights match nothing in the model."""


class NonFiniteLossError(SimSiamMMError, FloatingPointError):
    """Training produced a NaN/Inf loss and was stopped before any NaN weights were saved."""


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
