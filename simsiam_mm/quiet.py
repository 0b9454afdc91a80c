"""Warnings a user cannot act on, silenced narrowly: each by its exact message and category, with the reason.

Installed once when ``simsiam_mm`` is imported (before any config is read), so every tool and every forked
dataloader worker inherits them. Nothing is filtered wholesale: any other warning still shows.
"""
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# (message regex, category, module regex, why it is silenced)
KNOWN_WARNINGS: tuple[tuple[str, type[Warning], str, str], ...] = (
    (r'pkg_resources is deprecated as an API', UserWarning, '',
     "mmengine.utils.is_installed imports pkg_resources (setuptools' deprecation); not ours to fix, no effect"),
    (r"Only use 'alpha' for pillow backend\.", UserWarning, r'mmcv\.image\.photometric',
     'mmcv.adjust_color warns on every pillow call although mmpretrain ColorJitter passes only alpha (saturation)'),
    (r'Fail to import ``MultiScaleDeformableAttention`` from ``mmcv\.ops\.multi_scale_deform_attn``, You should '
     r'install ``mmcv`` rather than ``mmcv-lite`` if you need this module\.', UserWarning,
     r'mmcv\.cnn\.bricks\.transformer',
     "the light install's mmcv-lite has no compiled ops by design; mmpretrain imports mmcv's transformer bricks, "
     'which try this one op at import; SimSiam never uses it (the downstream benchmarks that need ops have the full '
     'install, where the import succeeds and nothing is warned)'),
)


def install_warning_filters() -> None:
    """Ignore exactly the :data:`KNOWN_WARNINGS` (idempotent: ``warnings.filterwarnings`` deduplicates)."""
    for message, category, module, _why in KNOWN_WARNINGS:
        warnings.filterwarnings('ignore', message=message, category=category, module=module)


class _DropMessages(logging.Filter):
    """Drop the log records whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


@contextmanager
def dropped_log_messages(logger: logging.Logger, *prefixes: str) -> Iterator[None]:
    """Within the block, ``logger`` drops the records that start with one of ``prefixes`` (exact text)."""
    drop = _DropMessages(prefixes)
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


@contextmanager
def logger_level(logger: logging.Logger, level: int) -> Iterator[None]:
    """Within the block ``logger`` passes only records at ``level`` or above (e.g. to hide a per-parameter dump)."""
    previous = logger.level
    logger.setLevel(max(level, previous))
    try:
        yield
    finally:
        logger.setLevel(previous)
