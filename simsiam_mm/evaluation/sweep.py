"""A label-free recipe sweep: short runs around the short CPU recipe, ranked by RankMe, no labels needed.

The grid is a star around the recipe (one factor at a time): the recipe itself, learning rate x0.5 and x2, colour
jitter 0.1 and 0.4 (the recipe: 0.2, half of MoCo v2's 0.4), crop scale (0.5, 1) and (0.08, 1) (the recipe:
(0.2, 1)). ``grid='validation'`` adds the deliberately bad runs of the validation (docs/label_free.md): lr x10 and
x0.1, no stop-gradient, no predictor, no augmentation. Each run is the recipe's config with the run's changes merged
in, shortened to ``iters`` iterations (warm-up 10 %, then cosine), written to ``<work_dir>/<run>/<run>.py`` so it can
be rerun by hand; its :class:`~simsiam_mm.evaluation.rank_hook.RankMeHook` leaves ``rankme.json`` (RankMe of the
backbone and of z, z_std·√d, the diagnosis, the spectra).

Score (label-free): RankMe of the backbone's pooled features at the end of the run; a run the diagnosis calls a
complete collapse, or that failed, ranks last whatever its rank. With ``knn`` (a labelled folder, for validation
only) a :class:`~simsiam_mm.evaluation.knn_hook.KNNEvalHook` also measures kNN top-1 at the end, beside the score.
"""
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mmengine.config import Config

from simsiam_mm.errors import DataError, MissingPathError
from simsiam_mm.evaluation.rank import diagnose

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')
SCORES = ('rank_backbone', 'rank_z', 'z_std_x_sqrt_d')  # the label-free numbers a run reports; the first ranks


@dataclass
class SweepRun:
    """One point of the grid: a name, what it changes (config keys, merged with ``Config.merge_from_dict``)."""

    name: str
    note: str
    options: dict = field(default_factory=dict)
    lr_factor: float = 1.0
    bad: bool = False  # a deliberately bad setting (validation only)


def jitter(strength: float) -> dict:
    """Colour-jitter strength s: brightness, contrast, saturation s, hue s/4 (MoCo v2: 0.4, 0.4, 0.4, 0.1)."""
    return {'model.data_preprocessor.brightness': strength, 'model.data_preprocessor.contrast': strength,
            'model.data_preprocessor.saturation': strength, 'model.data_preprocessor.hue': strength / 4}


def build_grid(grid: str = 'star') -> list[SweepRun]:
    """The runs of ``grid``: 'star' (7 runs, the recipe first) or 'validation' (the star plus 5 bad runs)."""
    runs = [
        SweepRun('recipe', 'the short recipe: lr 0.125 (batch 64), jitter 0.2, crop scale (0.2, 1)'),
        SweepRun('lr-x0.5', 'learning rate x0.5', lr_factor=0.5),
        SweepRun('lr-x2', 'learning rate x2', lr_factor=2.0),
        SweepRun('jitter-0.1', 'weaker colour jitter (0.1)', jitter(0.1)),
        SweepRun('jitter-0.4', 'stronger colour jitter (0.4, MoCo v2)', jitter(0.4)),
        SweepRun('crop-0.5', 'weaker crops, scale (0.5, 1)', {'model.data_preprocessor.crop_scale': (0.5, 1.0)}),
        SweepRun('crop-0.08', 'stronger crops, scale (0.08, 1)', {'model.data_preprocessor.crop_scale': (0.08, 1.0)}),
    ]
    if grid == 'validation':
        runs += [
            SweepRun('bad-lr-x10', 'learning rate x10', lr_factor=10.0, bad=True),
            SweepRun('bad-lr-x0.1', 'learning rate x0.1', lr_factor=0.1, bad=True),
            SweepRun('bad-no-stop-gradient', 'no stop-gradient (paper Fig. 2)', {'model.head.stop_gradient': False},
                     bad=True),
            SweepRun('bad-no-predictor', 'no predictor (paper Table 1)', {'model.head.predictor': None}, bad=True),
            SweepRun('bad-no-augmentation', 'no augmentation: whole image, no flip, no colour',
                     {'model.data_preprocessor.crop_scale': (1.0, 1.0),
                      'model.data_preprocessor.crop_ratio': (1.0, 1.0), 'model.data_preprocessor.flip_prob': 0.0,
                      'model.data_preprocessor.jitter_prob': 0.0, 'model.data_preprocessor.gray_prob': 0.0},
                     bad=True),
        ]
        good, bad = runs[:7], runs[7:]  # interleaved: a cut-short validation still has both kinds
        order = ['bad-no-stop-gradient', 'bad-lr-x10', 'bad-no-predictor', 'bad-no-augmentation', 'bad-lr-x0.1']
        bad.sort(key=lambda r: order.index(r.name))
        runs = [r for pair in zip(good, bad + [None] * 2) for r in pair if r is not None]
    elif grid != 'star':
        raise ValueError(f'build_grid: unknown grid {grid!r} (star, validation)')
    return runs


def check_image_folder(root: Path, prefix: str = 'train') -> int:
    """Images under ``root/prefix/<class>/``; a clear error for a missing or empty folder."""
    split = root / prefix
    if not split.is_dir():
        what = 'does not exist' if not root.exists() else f'has no {prefix}/ folder'
        raise MissingPathError(f'{root}: --data-root {what} — give a folder holding {prefix}/<class>/<image> '
                               '(one sub-folder per class or group; any names when there are no labels).')
    count = sum(1 for f in split.rglob('*') if f.suffix.lower() in IMAGE_EXTENSIONS)
    if count == 0:
        raise DataError(f'{split}: holds no image ({", ".join(IMAGE_EXTENSIONS)}) in its sub-folders — put the '
                        f'images in {split}/<class>/ (a single folder such as {split}/all/ is fine).')
    return count


def run_config(base: Config, run: SweepRun, data_root: str, iters: int, rank_images: int = 1024,
               knn: dict | None = None, gpus: int = 0) -> Config:
    """The recipe ``base`` with ``run``'s changes, ``iters`` iterations, RankMe at the end (and kNN with ``knn``:
    ``dict(data_root=..., train_prefix=..., val_prefix=..., num_per_class_train=..., num_per_class_val=...)``).
    On ``gpus`` > 1 processes the batch per process stays and the lr grows linearly with the total batch, the
    recipe's rule (lr = 0.5 x total batch / 256)."""
    cfg = Config(base.to_dict())
    cfg.merge_from_dict(run.options)
    cfg.train_dataloader.dataset.dataset.data_root = data_root
    scale = max(1, gpus)
    cfg.optim_wrapper.optimizer.lr = base.optim_wrapper.optimizer.lr * run.lr_factor * scale
    if 'auto_scale_lr' in cfg:
        cfg.auto_scale_lr.base_batch_size = cfg.train_dataloader.batch_size * scale
    warmup = max(1, iters // 10)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup),
        dict(type='CosineAnnealingLR', T_max=iters - warmup, by_epoch=False, begin=warmup, end=iters)]
    cfg.train_cfg.max_iters = iters
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.logger.interval = max(1, min(50, iters // 10))
    cfg.randomness = dict(seed=0)
    hooks = [h for h in cfg.get('custom_hooks', []) if h['type'] not in ('RankMeHook', 'KNNEvalHook')]
    hooks.append(dict(type='RankMeHook', interval=iters, num_images=rank_images))
    if knn is not None:
        split = dict(type='CustomDataset', data_root=knn['data_root'], pipeline=cfg.knn_pipeline, test_mode=True)
        hooks.append(dict(type='KNNEvalHook', interval=iters, by_epoch=False,
                          train_dataset=dict(split, data_prefix=knn.get('train_prefix', 'train')),
                          val_dataset=dict(split, data_prefix=knn['val_prefix']),
                          num_per_class_train=knn.get('num_per_class_train'),
                          num_per_class_val=knn.get('num_per_class_val')))
    cfg.custom_hooks = hooks
    return cfg


def train_command(python: str, config: Path, work_dir: Path, gpus: int = 0) -> list[str]:
    """``tools/train.py`` (CPU, one process) or ``tools/dist_train.sh CONFIG GPUS`` (GPU mode)."""
    if gpus > 0:
        return ['bash', 'tools/dist_train.sh', str(config), str(gpus), '--work-dir', str(work_dir)]
    return [python, 'tools/train.py', str(config), '--work-dir', str(work_dir)]


def read_result(work_dir: Path) -> dict:
    """The label-free numbers of a finished run (``rankme.json``) and its kNN top-1 if logged (``scalars.json``)."""
    out: dict = dict(rank_backbone=None, rank_z=None, z_std_x_sqrt_d=None, diagnosis=None, knn_top1=None)
    rank_file = work_dir / 'rankme.json'
    if rank_file.is_file():
        rank = json.loads(rank_file.read_text())
        last = rank['history'][-1]
        out.update(rank_backbone=last['rank_backbone'], rank_z=last['rank_z'], dim_z=last['dim_z'],
                   dim_backbone=last['dim_backbone'], z_std_x_sqrt_d=last['z_std_x_sqrt_d'],
                   diagnosis=diagnose(last['rank_z'], last['dim_z'], last['z_std_x_sqrt_d']).state,  # current rule
                   spectra=rank['spectra'])
    for scalars in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in scalars.read_text().splitlines():
            if '"knn/top1"' in line:
                out['knn_top1'] = json.loads(line)['knn/top1']
    return out


def score_of(result: dict, key: str = 'rank_backbone') -> float:
    """The label-free score: ``key`` (RankMe of the backbone); -inf for a failed run or a complete collapse."""
    if result.get(key) is None or result.get('diagnosis') == 'complete':
        return -math.inf
    return float(result[key])


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties; -inf/inf rank lowest/highest like any number)."""
    def ranks(v: Sequence[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(v):
            j = i
            while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return r
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    var = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return cov / var if var else float('nan')


class Progress:
    """``[i/n] run: ... | elapsed, ETA`` lines: the ETA is the mean time of the runs trained so far (reused runs
    cost nothing) x the runs left."""

    def __init__(self, total: int, write: Callable[[str], None] | None = None) -> None:
        self.total, self.done, self.trained, self.seconds = total, 0, 0, 0.0
        self.start = time.perf_counter()
        self.write = write or (lambda line: print(line, flush=True))

    def step(self, message: str, seconds: float = 0.0) -> None:
        """One run finished; ``seconds``: its training time (0 for a reused run)."""
        self.done += 1
        if seconds > 0:
            self.trained, self.seconds = self.trained + 1, self.seconds + seconds
        eta = self.seconds / self.trained * (self.total - self.done) if self.trained else float('nan')
        elapsed = time.perf_counter() - self.start
        self.write(f'[{self.done}/{self.total}] {message} | elapsed {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min')


def write_table(rows: list[dict], path: Path) -> str:
    """Markdown table of the runs, best score first; returns it (and writes it to ``path``)."""
    has_knn = any(r.get('knn_top1') is not None for r in rows)
    head = ['rank', 'run', 'change', 'RankMe backbone', 'RankMe z', 'z_std·√d', 'diagnosis', 'minutes']
    lines = ['| ' + ' | '.join(head + (['kNN top-1 (%)'] if has_knn else [])) + ' |',
             '|' + '---|' * (len(head) + has_knn)]

    def f(v, spec='.1f'):
        return '-' if v is None else format(v, spec)
    for i, r in enumerate(rows, 1):
        cells = [str(i), r['run'], r['note'], f(r.get('rank_backbone')), f(r.get('rank_z')),
                 f(r.get('z_std_x_sqrt_d'), '.3f'), r.get('diagnosis') or r.get('status', '-'),
                 f(r.get('seconds', 0) / 60)]
        if has_knn:
            cells.append(f(r.get('knn_top1'), '.2f'))
        lines.append('| ' + ' | '.join(cells) + ' |')
    text = '\n'.join(lines) + '\n'
    path.write_text(text)
    return text


def plot_sweep_spectra(rows: list[dict], path: Path, key: str = 'backbone') -> None:
    """The ``key`` singular-value spectra of every run in one figure (σ_k/σ_1, log-log)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for r in rows:
        sigma = (r.get('spectra') or {}).get(key)
        if sigma and sigma[0] > 0:
            ax.loglog(range(1, len(sigma) + 1), [max(s / sigma[0], 1e-12) for s in sigma],
                      ls='--' if r.get('bad') else '-', lw=1, label=f'{r["run"]} ({r.get("rank_" + key, 0):.1f})')
    ax.set(xlabel='k', ylabel='σ_k / σ_1', title=f'{key} spectra (legend: RankMe)')
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_score_vs_knn(rows: list[dict], path: Path, title: str = '') -> None:
    """Validation: each label-free number (x) against kNN top-1 (y), one panel each, Spearman's rho in the title."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(SCORES), figsize=(4.2 * len(SCORES), 3.6))
    for ax, key in zip(axes, SCORES):
        pts = [(r[key], r['knn_top1'], r) for r in rows if r.get(key) is not None and r.get('knn_top1') is not None]
        rho = spearman([p[0] for p in pts], [p[1] for p in pts]) if len(pts) > 2 else float('nan')
        for x, y, r in pts:
            ax.scatter(x, y, marker='x' if r.get('bad') else 'o', color='tab:red' if r.get('bad') else 'tab:blue')
            ax.annotate(r['run'], (x, y), fontsize=6, xytext=(2, 2), textcoords='offset points')
        ax.set(xlabel=key, ylabel='kNN top-1 (%)', title=f'{key}: Spearman ρ = {rho:.2f}')
        if key.startswith('rank'):
            ax.set_xscale('log')
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
