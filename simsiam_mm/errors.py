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
