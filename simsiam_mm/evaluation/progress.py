"""Progress with an ETA for long loops (feature extraction, SVM fits): one helper, :func:`track`.

On a terminal it is mmengine's ``ProgressBar`` (one line redrawn in place); written to a pipe or a log file it
prints a plain line every ``every`` of the work (default 10 %) or every ``min_interval`` seconds, so a captured log
shows how far the work got and how long is left.
"""
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TypeVar

from mmengine.utils import ProgressBar

T = TypeVar('T')


def format_seconds(seconds: float) -> str:
    """``75`` -> ``'1:15'``, ``3725`` -> ``'1:02:05'``."""
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'


def progress_line(desc: str, done: int, total: int, elapsed: float, unit: str = 'images') -> str:
    """``'desc: 2560/10000 images (26%), 120.3 images/s, elapsed 0:21, ETA 1:02'``."""
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else float('nan')
    eta_text = format_seconds(eta) if eta == eta else '?'
    return (f'{desc}: {done}/{total} {unit} ({100 * done / max(total, 1):.0f}%), {rate:.1f} {unit}/s, '
            f'elapsed {format_seconds(elapsed)}, ETA {eta_text}')


class _LineProgress:
    """Plain progress lines for logs and pipes: at every ``every`` fraction of ``total`` or ``min_interval`` s."""

    def __init__(self, desc: str, total: int, stream: IO, unit: str, every: float, min_interval: float) -> None:
        self.desc, self.total, self.stream, self.unit = desc, total, stream, unit
        self.every, self.min_interval = every, min_interval
        self.done, self.start = 0, time.perf_counter()
        self.next_fraction, self.last_print = every, self.start

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.done >= self.total or self.done / max(self.total, 1) >= self.next_fraction \
                or now - self.last_print >= self.min_interval:
            while self.next_fraction <= self.done / max(self.total, 1):
                self.next_fraction += self.every
            self.last_print = now
            print(progress_line(self.desc, self.done, self.total, now - self.start, self.unit), file=self.stream,
                  flush=True)

    def close(self) -> None:
        pass


class _BarProgress:
    """mmengine's ProgressBar after a description, for terminals."""

    def __init__(self, desc: str, total: int, stream: IO) -> None:
        self.stream = stream
        print(f'{desc}:', file=stream, flush=True)
        self.bar = ProgressBar(total, file=stream)

    def update(self, n: int) -> None:
        self.bar.update(n)

    def close(self) -> None:
        self.stream.write('\n')
        self.stream.flush()


def track(iterable: Iterable[T], total: int, desc: str, size: Callable[[T], int] = lambda _: 1,
          stream: IO | None = None, unit: str = 'images', every: float = 0.1,
          min_interval: float = 60.0) -> Iterator[T]:
    """Yield from ``iterable``, reporting progress towards ``total`` units (``size(item)`` units per item).

    Examples:
        >>> import io
        >>> out = io.StringIO()
        >>> batches = list(track([[1, 2], [3, 4]], total=4, desc='features', size=len, stream=out))
        >>> out.getvalue().splitlines()[-1].split(',')[0]
        'features: 4/4 images (100%)'
    """
    stream = sys.stderr if stream is None else stream
    is_tty = getattr(stream, 'isatty', lambda: False)()
    progress = _BarProgress(desc, total, stream) if is_tty else _LineProgress(
        desc, total, stream, unit, every, min_interval)
    try:
        for item in iterable:
            yield item
            progress.update(size(item))
    finally:
        progress.close()
