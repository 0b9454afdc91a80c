"""Plot a training run's curves (loss, lr and predictor lr, z_std·√d, RankMe and kNN top-1 when logged) into one PNG.

Reads mmengine's ``vis_data/scalars.json`` of every run in the work dir (a resumed run adds a timestamped folder; a
later record of the same step wins), so it needs nothing but the work dir ``tools/train.py`` wrote::

    python tools/analysis/plot_curves.py work_dirs/simsiam_resnet18-cifar_1xb32-coslr-1e-2k_cifar10-quick
    python tools/analysis/plot_curves.py WORK_DIR --out curves.png   # default: WORK_DIR/curves.png

mmpretrain's ``tools/analysis_tools/analyze_logs.py`` is not installed with the package (it lives in its source
tree) and plots one metric per call without our keys' grouping, hence this small tool.
"""
import argparse
import json
import sys
from pathlib import Path

# (panel title, [(scalars.json key, legend label)], y-axis label); a panel is drawn when one of its keys is logged
PANELS = (
    ('loss', [('loss', 'loss')], 'negative cosine similarity'),
    ('learning rate', [('lr', 'lr (encoder)'), ('predictor_lr', 'predictor lr')], 'lr'),
    ('collapse score', [('z_std_x_sqrt_d', 'z_std·√d')], '≈1 healthy, →0 collapsed'),
    ('effective rank (RankMe)', [('rankme/backbone', 'backbone'), ('rankme/z', 'z')], 'RankMe (1: collapsed)'),
    ('kNN', [('knn/top1', 'top-1'), ('knn/top5', 'top-5')], 'accuracy (%)'),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('work_dir', help='a work dir of tools/train.py (or one run folder holding vis_data/scalars.json)')
    p.add_argument('--out', help='PNG to write (default: WORK_DIR/curves.png)')
    return p.parse_args(argv)


def scalar_files(work_dir: Path) -> list[Path]:
    """The ``scalars.json`` files of every run under ``work_dir``, oldest first (folders are named by timestamp)."""
    direct = work_dir / 'vis_data' / 'scalars.json'
    return [direct] if direct.is_file() else sorted(work_dir.glob('*/vis_data/scalars.json'))


def load_scalars(files: list[Path]) -> dict[str, list[tuple[int, float]]]:
    """``{key: [(step, value), ...]}`` sorted by step, merged over ``files`` (a later file wins on a repeated step)."""
    by_key: dict[str, dict[int, float]] = {}
    for path in files:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            step = int(record.pop('step', record.get('iter', 0)))
            for key, value in record.items():
                if isinstance(value, (int, float)):
                    by_key.setdefault(key, {})[step] = float(value)
    return {key: sorted(points.items()) for key, points in by_key.items()}


def plot(series: dict[str, list[tuple[int, float]]], out: Path, title: str) -> list[str]:
    """Draw every panel that has data into ``out``; return the keys plotted."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    panels = [(name, [(k, label) for k, label in keys if k in series], ylabel) for name, keys, ylabel in PANELS]
    panels = [p for p in panels if p[1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (name, keys, ylabel) in zip(axes[0], panels):
        for key, label in keys:
            steps, values = zip(*series[key])
            ax.plot(steps, values, marker='.' if len(steps) < 30 else None, label=label)
        if name.startswith('effective rank'):
            ax.set_yscale('log')
        if name == 'collapse score':
            ax.axhline(1.0, color='grey', lw=0.8, ls='--')
            ax.set_ylim(0, max(1.2, 1.1 * max(v for k, _ in keys for _, v in series[k])))
        ax.set(title=name, xlabel='iteration', ylabel=ylabel)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return [key for _, keys, _ in panels for key, _ in keys]


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    work_dir = Path(args.work_dir)
    files = scalar_files(work_dir)
    if not files:
        sys.exit(f'{work_dir}: error: no vis_data/scalars.json under it; pass the work dir tools/train.py wrote '
                 '(its config needs a LocalVisBackend, the default)')
    series = load_scalars(files)
    if not any(key in series for _, keys, _ in PANELS for key, _ in keys):
        sys.exit(f'{files[-1]}: error: none of the plotted keys (loss, lr, z_std_x_sqrt_d, rankme/*, knn/top1) '
                 'is logged there')
    out = Path(args.out) if args.out else work_dir / 'curves.png'
    plotted = plot(series, out, f'{work_dir.resolve().name} ({len(files)} run(s))')
    last = max(step for key in plotted for step, _ in series[key])
    print(f'{out}: {", ".join(plotted)} over {last} iterations from {len(files)} scalars.json file(s)')
    return out


if __name__ == '__main__':
    main()
