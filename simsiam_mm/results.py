"""Per-iteration series as compact CSV files, apart from the small summaries the analysis tools write.

A tool's summary (JSON and markdown: the setting, the table, the kNN points) goes where the docs point; the
per-iteration series (loss, z_std·√d, seconds: thousands of rows) go to a CSV file with one column per quantity, whose
path the summary records under ``series``. Docs hold prose, tables and pictures; the series live in ``results/``, and
the figures are redrawn from both (``tools/analysis/plot_curves.py SUMMARY.json``, :mod:`simsiam_mm.plots`).

Examples:
    >>> import tempfile
    >>> path = write_series(Path(tempfile.mkdtemp()) / 'run.csv', dict(iter=[1, 2], loss=[-0.5, -0.75]))
    >>> read_series(path)
    {'iter': [1, 2], 'loss': [-0.5, -0.75]}
"""
import csv
import os
from collections.abc import Sequence
from pathlib import Path

from simsiam_mm.errors import DataError


def columns(rows: Sequence[dict], digits: dict[str, int | None]) -> dict[str, list]:
    """Per-iteration ``rows`` (dicts) as columns, each rounded to its ``digits`` (``None``: kept as is)."""
    return {k: [r[k] if n is None else round(r[k], n) for r in rows] for k, n in digits.items()}


def write_series(path: str | Path, series: dict[str, list]) -> Path:
    """Write ``{column: values}`` (equal lengths) as CSV with a header line; return the path."""
    lengths = {len(v) for v in series.values()}
    if len(lengths) > 1:
        raise ValueError(f'write_series: columns of different lengths {sorted(lengths)} for {path}')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(series)
        writer.writerows(zip(*series.values()))
    return path


def _number(text: str) -> int | float:
    return int(text) if text.lstrip('-').isdigit() else float(text)


def read_series(path: str | Path) -> dict[str, list]:
    """``{column: values}`` of a CSV written by :func:`write_series` (whole numbers as int, the rest as float)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f'{path}: the per-iteration series the summary points to does not exist — run the tool '
                        'again, or give its --series-dir.')
    with open(path, newline='') as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise DataError(f'{path}: empty series file (no header line) — run the tool again.')
        out: dict[str, list] = {name: [] for name in header}
        for lineno, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise DataError(f'{path}:{lineno}: {len(row)} values for {len(header)} columns — the file was cut '
                                'off or edited; run the tool again.')
            try:
                for name, value in zip(header, row):
                    out[name].append(_number(value))
            except ValueError as e:
                raise DataError(f'{path}:{lineno}: not a number ({e}) — run the tool again.') from None
    return out


def series_entry(series_path: str | Path, summary_dir: str | Path) -> str:
    """How a summary in ``summary_dir`` names its series file: relative to that folder, so that the pair can be
    moved together (a repository checkout) and read from any working directory."""
    return os.path.relpath(series_path, summary_dir)


def series_file(summary_path: str | Path, series: str) -> Path:
    """The series file a summary's ``series`` entry names (:func:`series_entry`)."""
    return Path(summary_path).parent / series
