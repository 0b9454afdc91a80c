"""Plot a training run's curves (loss, lr and predictor lr, z_std·√d, RankMe, kNN top-1 when logged) into one
PNG, or redraw the figure of an analysis tool's summary JSON from the files it wrote.

Reads mmengine's ``vis_data/scalars.json`` of every run in the work dir (a resumed run adds a timestamped folder; a
later record of the same step wins), so it needs nothing but the work dir ``tools/train.py`` wrote::

    python tools/analysis/plot_curves.py work_dirs/simsiam_resnet18-cifar_1xb32-coslr-1e-2k_cifar10-quick
    python tools/analysis/plot_curves.py WORK_DIR --out curves.png   # default: WORK_DIR/curves.png

A summary JSON of learning_evidence.py, collapse_evidence.py or ablations.py is redrawn from it and the per-iteration
series it points to (``results/``), without training again (default: the PNG beside the summary)::

    python tools/analysis/plot_curves.py docs/short_recipe/cifar10_seed0.json

A run killed while writing leaves a partial last line in ``scalars.json``: it is skipped with a note; a bad line
elsewhere is refused, naming the file and the line.

mmpretrain's ``tools/analysis_tools/analyze_logs.py`` is not installed with the package (it lives in its source
tree) and plots one metric per call without our keys' grouping, hence this small tool.
"""
import argparse
import json
import sys
from pathlib import Path

from simsiam_mm.errors import DataError, MissingPathError, add_debug_flag, cli_main
from simsiam_mm.plots import CURVE_PANELS, from_summary, training_curves


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('work_dir', help='a work dir of tools/train.py (or one run folder holding vis_data/scalars.json), '
                                    'or a summary JSON of an analysis tool')
    p.add_argument('--out', help='PNG to write (default: WORK_DIR/curves.png, or the summary\'s name with .png)')
    add_debug_flag(p)
    return p.parse_args(argv)


def scalar_files(work_dir: Path) -> list[Path]:
    """The ``scalars.json`` files of every run under ``work_dir``, oldest first (folders are named by timestamp)."""
    direct = work_dir / 'vis_data' / 'scalars.json'
    return [direct] if direct.is_file() else sorted(work_dir.glob('*/vis_data/scalars.json'))


def read_records(path: Path) -> list[dict]:
    """The JSON records of one ``scalars.json``, one a line. A partial last line (a run killed mid-write) is
    skipped with a note on stderr; any other bad line is refused, naming the file and the line."""
    lines = path.read_text().splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    records = []
    for n, line in numbered:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if n == numbered[-1][0]:
                print(f'plot_curves.py: note: {path}:{n}: partial last line skipped (a run stopped while writing '
                      'it)', file=sys.stderr)
                break
            raise DataError(f'{path}:{n}: not a JSON record ({e.msg}) — the file was cut or edited there; remove '
                            'that line or plot another work dir.') from None
        if not isinstance(record, dict):
            raise DataError(f'{path}:{n}: a JSON record must be an object with a step and values, got '
                            f'{type(record).__name__} — remove that line.')
        records.append(record)
    return records


def load_scalars(files: list[Path]) -> dict[str, list[tuple[int, float]]]:
    """``{key: [(step, value), ...]}`` sorted by step, merged over ``files`` (a later file wins on a repeated step)."""
    by_key: dict[str, dict[int, float]] = {}
    for path in files:
        for record in read_records(path):
            step = int(record.pop('step', record.get('iter', 0)))
            for key, value in record.items():
                if isinstance(value, (int, float)):
                    by_key.setdefault(key, {})[step] = float(value)
    return {key: sorted(points.items()) for key, points in by_key.items()}


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    work_dir = Path(args.work_dir)
    if work_dir.is_file() and work_dir.suffix == '.json':
        out = from_summary(work_dir, args.out)
        print(f'{out}: redrawn from {work_dir}')
        return out
    files = scalar_files(work_dir)
    if not files:
        raise MissingPathError(f'{work_dir}: no vis_data/scalars.json under it; pass the work dir tools/train.py '
                               'wrote (its config needs a LocalVisBackend, the default)')
    series = load_scalars(files)
    if not any(key in series for _, keys, _ in CURVE_PANELS for key, _ in keys):
        raise DataError(f'{files[-1]}: none of loss, lr, predictor_lr, z_std_x_sqrt_d, rankme/*, knn/top1 is logged '
                        'there')
    out = Path(args.out) if args.out else work_dir / 'curves.png'
    plotted = training_curves(series, out, f'{work_dir.resolve().name} ({len(files)} run(s))')
    last = max(step for key in plotted for step, _ in series[key])
    print(f'{out}: {", ".join(plotted)} over {last} iterations from {len(files)} scalars.json file(s)')
    return out


if __name__ == '__main__':
    cli_main(main)()
