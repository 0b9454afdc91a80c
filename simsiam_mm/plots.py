"""The figures of the analysis tools, in one place: training curves, learning evidence, collapse evidence, ablations.

Every function draws from data (a tool's summary and its per-iteration series, :mod:`simsiam_mm.results`) into a PNG,
so a figure in the docs is redrawn from the files its tool wrote, without training again::

    python tools/analysis/plot_curves.py docs/short_recipe/cifar10_seed0.json   # -> docs/short_recipe/*.png

matplotlib is imported when a figure is drawn (Agg backend: no display needed), never at import time.
"""
import json
import textwrap
from collections.abc import Sequence
from pathlib import Path

from simsiam_mm.errors import DataError
from simsiam_mm.results import read_series, series_file

# (panel title, [(scalars.json key, legend label)], y-axis label); a panel is drawn when one of its keys is logged
CURVE_PANELS = (
    ('loss', [('loss', 'loss')], 'negative cosine similarity'),
    ('learning rate', [('lr', 'lr (encoder)'), ('predictor_lr', 'predictor lr')], 'lr'),
    ('collapse score', [('z_std_x_sqrt_d', 'z_std·√d')], '≈1 healthy, →0 collapsed'),
    ('effective rank (RankMe)', [('rankme/backbone', 'backbone'), ('rankme/z', 'z')], 'RankMe (1: collapsed)'),
    ('kNN', [('knn/top1', 'top-1'), ('knn/top5', 'top-5')], 'accuracy (%)'),
)


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path, dpi: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)


def training_curves(series: dict[str, list[tuple[int, float]]], out: Path, title: str) -> list[str]:
    """A run's logged scalars (``{key: [(step, value), ...]}``), one panel per :data:`CURVE_PANELS` entry that has
    data, into ``out``; returns the keys plotted."""
    plt = _pyplot()
    panels = [(name, [(k, label) for k, label in keys if k in series], ylabel) for name, keys, ylabel in CURVE_PANELS]
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
    _save(fig, out, 110)
    return [key for _, keys, _ in panels for key, _ in keys]


def learning_evidence(results: dict, iters: dict[str, list], path: Path) -> None:
    """kNN top-1 against training minutes with both random-init baselines (left); loss and z_std·√d against the
    minutes (right). ``results``: learning_evidence.py's summary; ``iters``: its per-iteration series."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    knn = results['knn']
    axes[0].plot([0] + [h['minutes'] for h in knn], [results['baselines']['init_weights']['top1']]
                 + [h['top1'] for h in knn], 'o-', color='tab:blue', label='SimSiam')
    for key, style, label in (('init_weights', '--', 'random init: init_weights()'),
                              ('pytorch_default', ':', 'random init: PyTorch default')):
        axes[0].axhline(results['baselines'][key]['top1'], color='gray', ls=style, label=label)
    axes[0].axhline(results['baseline_top1'] + 10, color='tab:green', lw=0.8, ls='-.', label='strongest + 10')
    axes[0].set(title=f'kNN top-1 (%): {results["knn_protocol"]}', xlabel='training minutes (kNN pauses excluded)')
    axes[0].legend(fontsize=8)
    minutes = [t / 60 for t in iters['train_seconds']]
    axes[1].plot(minutes, iters['loss'], lw=0.6, label='loss')
    axes[1].plot(minutes, iters['z_std_x_sqrt_d'], lw=0.6, label='z_std·√d (1 healthy, 0 collapsed)')
    axes[1].set(title='training', xlabel='training minutes')
    axes[1].legend(fontsize=8)
    fig.suptitle('\n'.join(textwrap.wrap(results['setting'], 170)), fontsize=8)
    fig.tight_layout()
    _save(fig, path, 110)


def collapse_evidence(results: dict, iters: dict[str, dict[str, list]], path: Path) -> None:
    """Loss, z_std·√d and kNN top-1 against the iteration for SimSiam and the run without stop-gradient (paper
    Fig. 2). ``results``: collapse_evidence.py's summary; ``iters``: run name -> its per-iteration series."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colors = dict(simsiam='tab:blue', no_stopgrad='tab:red')
    labels = dict(simsiam='(b) SimSiam', no_stopgrad='(c) no stop-gradient')
    for run, r in results['runs'].items():
        for ax, key in zip(axes[:2], ('loss', 'z_std_x_sqrt_d')):
            ax.plot(iters[run]['iter'], iters[run][key], color=colors[run], label=labels[run], lw=0.8)
        axes[2].plot([h['iter'] for h in r['knn']], [h['top1'] for h in r['knn']], 'o-', color=colors[run],
                     label=labels[run])
    if 'random_init' in results:  # absent with --eval-interval 0 (no kNN evaluation at all)
        axes[2].axhline(results['random_init']['top1'], color='gray', ls='--', label='(a) random init')
    axes[2].axhline(10, color='black', ls=':', lw=0.8, label='chance')
    for ax, title in zip(axes, ('loss (-1 = collapsed)', 'z_std·√d (1 healthy, 0 collapsed)', 'kNN top-1 (%)')):
        ax.set_title(title)
        ax.set_xlabel('iteration')
        ax.legend()
    fig.suptitle(results['setting'], fontsize=9)
    fig.tight_layout()
    _save(fig, path, 110)


def ablation_table(title: str, budget: str, names: Sequence[str], papers: Sequence[float | None],
                   results: Sequence[dict], path: Path) -> None:
    """One ablation table's rows: loss and z_std·√d curves, and our kNN top-1 beside the paper's linear top-1.
    ``results``: per row, ``curves`` (iter, loss, z_std_x_sqrt_d) and ``top1`` (kNN at the CPU budgets, the linear
    probe at ``in1k-100e``; tables written before that split name it ``knn_top1``)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    for name, r in zip(names, results):
        for ax, key in zip(axes[:2], ('loss', 'z_std_x_sqrt_d')):
            if any(v is not None for v in r['curves'][key]):
                ax.plot(r['curves']['iter'], r['curves'][key], label=name, lw=0.9)
    x = range(len(names))
    axes[2].bar([i - 0.2 for i in x], [r.get('top1', r.get('knn_top1')) or 0 for r in results], 0.4,
                label='ours: top-1')
    twin = axes[2].twinx()
    twin.bar([i + 0.2 for i in x], [paper or 0 for paper in papers], 0.4, color='tab:gray',
             label='paper: IN-1k linear top-1')
    axes[2].set_xticks(list(x), list(names), rotation=20, fontsize=7)
    twin.set_ylabel('paper (%)')
    bars = axes[2].get_legend_handles_labels(), twin.get_legend_handles_labels()
    axes[2].legend(bars[0][0] + bars[1][0], bars[0][1] + bars[1][1], fontsize=7, loc='lower left')
    for ax, name in zip(axes, ('loss (cosine: -1 = collapsed)', 'z_std·√d (1 healthy, 0 collapsed)', 'top-1 (%)')):
        ax.set_title(name)
    for ax in axes[:2]:
        ax.set_xlabel('iteration')
        ax.legend(fontsize=7)
    fig.suptitle(f'{title} — budget {budget}', fontsize=9)
    fig.tight_layout()
    _save(fig, path, 100)


def from_summary(summary_path: str | Path, out: str | Path | None = None) -> Path:
    """Redraw the figure of a tool's summary JSON (its ``figure`` entry names the kind) from the summary and the
    series files it points to; ``out`` defaults to the summary's name with ``.png``. Returns the PNG's path."""
    summary_path = Path(summary_path)
    try:
        results = json.loads(summary_path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f'{summary_path}:{e.lineno}: not valid JSON ({e.msg}) — the file was cut off or edited; '
                        'run the tool that wrote it again.') from None
    out = Path(out) if out else summary_path.with_suffix('.png')
    kind = results.get('figure') if isinstance(results, dict) else None
    if kind is None and isinstance(results, dict) and {'table', 'budget', 'rows'} <= results.keys():
        kind = 'ablation_table'  # tools/analysis/ablations.py's table JSON
    if kind == 'learning_evidence':
        learning_evidence(results, read_series(series_file(summary_path, results['series'])), out)
    elif kind == 'collapse_evidence':
        iters = {run: read_series(series_file(summary_path, r['series'])) for run, r in results['runs'].items()}
        collapse_evidence(results, iters, out)
    elif kind == 'ablation_table':
        rows = results['rows']
        ablation_table(results['table'], results['budget'], [r['name'] for r in rows], [r['paper'] for r in rows],
                       rows, out)
    else:
        raise DataError(f'{summary_path}: not a summary with a figure (its "figure" entry is {kind!r}; expected '
                        'learning_evidence, collapse_evidence or ablation_table) — pass a summary JSON a tool '
                        'wrote, or a work dir.')
    return out
