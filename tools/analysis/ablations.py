"""Every experiment of the SimSiam paper by one command: train each row of a table at a budget, evaluate it (kNN at
the CPU budgets, the paper's linear probe at ``in1k-100e``), and write the table (markdown + JSON) and a plot of
loss, z_std·√d and top-1 per row beside the paper's numbers.

The tables, rows, paper values and budgets are data in ``simsiam_mm/paper.py``. A row is a delta config in
``configs/simsiam/ablations/`` merged onto the budget's full recipe; Table 2 is ``baseline.py`` at each batch size
of the budget's grid (lr = lr_recipe x B / B_recipe, same epochs, SGD), Appendix B at each output dimension.
Each run's merged config is written to ``<work-dir>/<budget>/<run>/<run>.py`` (also with ``--dry-run``), so every
printed command can be run by hand; runs shared by several tables (the baseline) train once, and a run whose
``result.json`` exists is reused (``--force`` retrains). With ``--gpus N`` > 1 the commands are
``tools/dist_train.sh`` ones. With ``--seeds 0 1 2`` every row trains once per seed (seed 0 in ``RUN``, the others in
``RUN-seedS``: init and batches differ, and every row of a seed shares them); the table gives top-1 as mean ± sd over
the seeds and, beside each row, its paired difference to the table's baseline row (same seed: same init, same
batches), which is what separates an effect from run-to-run noise. Paper values: ImageNet linear top-1 (%),
100-epoch pretraining.

Examples::

    python tools/analysis/ablations.py --table 3 --budget cpu-short --data-root ../shared/data/cifar10
    python tools/analysis/ablations.py --table sec5.2-steps 4 --budget cpu-tiny --data-root ../shared/data/cifar10
    python tools/analysis/ablations.py --table 4 --budget cpu-tiny --seeds 0 1 2 --data-root ../shared/data/cifar10
    python tools/analysis/ablations.py --table all --budget in1k-100e --gpus 8 --data-root data/imagenet --dry-run
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from fnmatch import fnmatch
from pathlib import Path

from simsiam_mm.errors import ConfigError, MissingPathError, cli_main
from simsiam_mm.paper import (
    BUDGETS,
    FREEZE_FRACTION,
    LINEAR_PROBE,
    TABLES,
    Row,
    rows_of,
    set_batch_size,
    set_out_dim,
    warm_up,
)

REPO = Path(__file__).resolve().parents[2]
ABLATIONS = REPO / 'configs/simsiam/ablations'
RECIPES = REPO / 'configs/simsiam'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--table', nargs='+', required=True, choices=[*TABLES, 'all'], help="tables to run ('all')")
    p.add_argument('--budget', required=True, choices=list(BUDGETS))
    p.add_argument('--rows', nargs='+', help="only the runs whose name matches one of these globs (e.g. 'compare-*')")
    p.add_argument('--data-root', help="labelled train/ and val class folders (default: the budget's)")
    p.add_argument('--work-dir', default='work_dirs/ablations', help='runs go to WORK_DIR/BUDGET/RUN')
    p.add_argument('--out-dir', help='tables and plots (default: WORK_DIR/BUDGET)')
    p.add_argument('--gpus', type=int, default=1, help='> 1: train with tools/dist_train.sh on this many GPUs')
    p.add_argument('--dry-run', action='store_true', help='write the merged configs and print the commands only')
    p.add_argument('--force', action='store_true', help='retrain runs that already have a result.json')
    p.add_argument('--seeds', nargs='+', type=int, default=[0],
                   help='train every row once per seed; the table gives mean ± sd and the paired difference to the '
                        'baseline row (default: 0)')
    return p.parse_args(argv)


ROW_KEYS = ('num_views', 'warmup_fraction', 'method_hooks')  # a row's keys that the runner reads, not the Runner


def set_num_views(cfg, num_views: int, row: Row) -> None:
    """Views per image: on the pipeline's ``MultiView`` step, or on a preprocessor that makes them (batched)."""
    steps = [t for t in cfg.train_dataloader.dataset.get('pipeline', []) if t.get('type') == 'MultiView']
    if 'crop_size' in cfg.model.data_preprocessor and not steps:
        cfg.model.data_preprocessor.num_views = num_views
    elif len(steps) == 1:
        steps[0].num_views = num_views
    else:
        raise ConfigError(f'{ABLATIONS / row.config}.py: num_views needs one MultiView step in the recipe\'s '
                         f'train pipeline or a view-making data preprocessor, found {len(steps)} MultiView steps')


def row_config(budget: dict, row: Row, data_root: str, gpus: int, seed: int = 0):
    """The budget's recipe with the row's delta merged in: the config the run trains."""
    from mmengine.config import Config

    from simsiam_mm.apis.config import nearest
    from simsiam_mm.registry import MODELS
    cfg = Config.fromfile(str(RECIPES / budget['config']))
    delta = Config.fromfile(str(ABLATIONS / f'{row.config}.py')).to_dict()
    for key in delta:  # the runner's own keys: a misspelt one would be merged into the config and silently ignored
        close = nearest(key, ROW_KEYS, n=1, cutoff=0.8)
        if key not in ROW_KEYS and close:
            raise ConfigError(f'{ABLATIONS / row.config}.py: unknown key {key!r} (did you mean {close[0]!r}?); the '
                              f'runner reads {", ".join(ROW_KEYS)}')
    num_views, warmup = delta.pop('num_views', None), delta.pop('warmup_fraction', None)
    add_hooks = delta.pop('method_hooks', [])  # a method's own hooks, after the recipe's (SwAV's SwAVHook)
    cfg.merge_from_dict(delta)
    # the seed: every row of one seed starts from the same weights and sees the same batches
    cfg.merge_from_dict({**budget['options'], budget['root_key']: data_root, 'randomness.seed': seed})
    model = cfg.model
    if model.neck.get('in_channels', 0) is None:  # a comparison method's neck: the backbone's width
        model.neck.in_channels = Config.fromfile(str(RECIPES / budget['config'])).model.neck.in_channels
        model.neck.in_channels = budget['options'].get('model.neck.in_channels', model.neck.in_channels)
    if model.type.startswith('mmpretrain.') and model.data_preprocessor.type in MODELS.module_dict:
        model.data_preprocessor.type = 'simsiam_mm.' + model.data_preprocessor.type  # ours, built in mmpretrain's
    if 'memory_size' in model and model.memory_size is None:  # Sec. 5.2: one row per training image
        model.memory_size = budget['num_train']
    if 'auto_scale_lr' in delta:  # the row's own lr at its own batch (mmpretrain's rule), over the budget's lr
        batch = cfg.train_dataloader.batch_size * gpus
        own_lr = delta['optim_wrapper']['optimizer']['lr']
        cfg.optim_wrapper.optimizer.lr = own_lr * batch / delta['auto_scale_lr']['base_batch_size']
        cfg.auto_scale_lr.base_batch_size = batch
    if cfg.train_cfg.type == 'AlternationLoop' and 'max_epochs' in cfg.train_cfg:
        for sched in cfg.param_scheduler:  # the loop counts iterations: epoch-based schedulers are converted
            if sched.get('by_epoch', True):
                sched['convert_to_iter_based'] = True
    if num_views is not None:
        set_num_views(cfg, num_views, row)
    if row.batch_size is not None:
        set_batch_size(cfg, row.batch_size, gpus)
    if row.out_dim is not None:
        set_out_dim(cfg, row.out_dim)
    if warmup is not None:
        warm_up(cfg, warmup)
    cfg.custom_hooks = [*cfg.get('custom_hooks', []), *(fill_hook(cfg, hook, budget, gpus) for hook in add_hooks)]
    return cfg


def fill_hook(cfg, hook: dict, budget: dict, gpus: int) -> dict:
    """A row's hook with its ``None`` values filled at the budget: ``batch_size`` = the per-process batch, each
    ``frozen_layers_cfg`` entry = ``FREEZE_FRACTION`` of the schedule's iterations (at least 1)."""
    hook = dict(hook)
    if hook.get('batch_size', 0) is None:
        hook['batch_size'] = cfg.train_dataloader.batch_size
    frozen = dict(hook.get('frozen_layers_cfg', {}))
    if None in frozen.values():
        total = cfg.train_cfg.get('max_iters') or cfg.train_cfg.max_epochs * (
            budget['num_train'] // (cfg.train_dataloader.batch_size * gpus))
        hook['frozen_layers_cfg'] = {k: max(1, round(FREEZE_FRACTION * total)) if v is None else v
                                     for k, v in frozen.items()}
    return hook


def commands(cfg_path: Path, run_dir: Path, budget: dict, data_root: str, gpus: int) -> tuple[list, list]:
    """The training command (``tools/train.py``, or ``tools/dist_train.sh`` on several GPUs) and the evaluation:
    kNN (``tools/analysis/knn_eval.py``) at the CPU budgets, the linear probe (``LINEAR_PROBE``) at ImageNet's."""
    def train_cmd(config: str, work_dir: Path) -> list[str]:
        if gpus > 1:
            return ['bash', 'tools/dist_train.sh', config, str(gpus), '--work-dir', str(work_dir)]
        return [sys.executable, 'tools/train.py', config, '--work-dir', str(work_dir)]
    ckpt = '$(cat ' + str(run_dir / 'last_checkpoint') + ')'
    if budget['eval'] == 'linear':
        evaluate = train_cmd(LINEAR_PROBE, run_dir / 'linear') + [
            '--cfg-options', f'model.backbone.init_cfg.checkpoint={ckpt}',
            f'train_dataloader.dataset.data_root={data_root}', f'val_dataloader.dataset.data_root={data_root}']
    else:
        split = [] if (Path(data_root) / 'test').is_dir() or not (Path(data_root) / 'val').is_dir() else [
            '--val-prefix', 'val']
        evaluate = [sys.executable, 'tools/analysis/knn_eval.py', str(cfg_path), ckpt, '--data-root', data_root,
                    '--out', str(run_dir / 'knn.json'), *budget['knn'], *split]
    return train_cmd(str(cfg_path), run_dir), evaluate


def read_curves(run_dir: Path) -> dict[str, list]:
    """Loss and z_std·√d per logged iteration, from mmengine's ``vis_data/scalars.json`` of the latest run."""
    files = sorted(run_dir.glob('*/vis_data/scalars.json'))
    curves: dict[str, list] = dict(iter=[], loss=[], z_std_x_sqrt_d=[])
    for line in files[-1].read_text().splitlines() if files else []:
        rec = json.loads(line)
        if 'loss' in rec:  # z_std·√d: SimSiam's models log it, the comparison methods do not (None)
            curves['iter'].append(rec['step'])
            curves['loss'].append(rec['loss'])
            curves['z_std_x_sqrt_d'].append(rec.get('z_std_x_sqrt_d'))
    return curves


def execute(cmd: list[str], log: Path) -> int:
    env = dict(os.environ, PYTHON=sys.executable)  # dist_train.sh's interpreter
    with open(log, 'a') as f:
        return subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, env=env).returncode


def linear_top1(work_dir: Path) -> float:
    """The last ``accuracy/top1`` the linear probe's run logged (mmengine's ``vis_data/scalars.json``)."""
    records = [json.loads(line) for f in sorted(work_dir.glob('*/vis_data/scalars.json'))
               for line in f.read_text().splitlines()]
    return [r['accuracy/top1'] for r in records if 'accuracy/top1' in r][-1]


def run_row(run_dir: Path, train: list, evaluate: list) -> dict:
    """Train, evaluate and summarise one run (a failed run is recorded, not fatal: 'unstable' rows may fail)."""
    result = dict(run=run_dir.name, status='ok', train_seconds=None, eval_seconds=None, top1=None, top5=None)
    start = time.perf_counter()
    rc = execute(train, run_dir / 'train.out')
    result['train_seconds'] = round(time.perf_counter() - start, 1)
    if rc != 0:
        result['status'] = f'training failed (exit {rc}, see {run_dir / "train.out"})'
    else:
        ckpt = (run_dir / 'last_checkpoint').read_text().strip()
        start = time.perf_counter()
        rc = execute([a.replace('$(cat ' + str(run_dir / 'last_checkpoint') + ')', ckpt) for a in evaluate],
                     run_dir / 'eval.out')
        result['eval_seconds'] = round(time.perf_counter() - start, 1)
        if rc != 0:
            result['status'] = f'evaluation failed (exit {rc}, see {run_dir / "eval.out"})'
        elif (run_dir / 'knn.json').exists():
            knn_result = json.loads((run_dir / 'knn.json').read_text())
            result.update(top1=knn_result['top1'], top5=knn_result['top5'])
        else:
            result['top1'] = linear_top1(run_dir / 'linear')
    curves = read_curves(run_dir)
    result.update(curves=curves, final_loss=(curves['loss'] or [None])[-1],
                  final_z_std_x_sqrt_d=(curves['z_std_x_sqrt_d'] or [None])[-1])
    (run_dir / 'result.json').write_text(json.dumps(result, indent=1))
    return result


def fmt(x: float | None, spec: str = '.1f') -> str:
    return '-' if x is None else format(x, spec)


def run_name(row: Row, seed: int) -> str:
    return row.run if seed == 0 else f'{row.run}-seed{seed}'


def mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None for fewer than 2 values)."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def over_seeds(per_seed: list[dict], seeds: list[int]) -> dict:
    """One row's result over its seeds: top-1 mean ± sd of the runs that finished, the first seed's curves, every
    seed's top-1; status 'ok' only if every seed's run is."""
    if len(per_seed) == 1:
        return per_seed[0]
    top1s = [r['top1'] for r in per_seed if r['top1'] is not None]
    top1, sd = mean_sd(top1s)
    bad = [f'seed {s}: {r["status"]}' for s, r in zip(seeds, per_seed) if r['status'] != 'ok']
    return dict(per_seed[0], run=per_seed[0]['run'], status='; '.join(bad) or 'ok', top1=top1, top1_sd=sd,
                top5=mean_sd([r['top5'] for r in per_seed if r['top5'] is not None])[0],
                seeds=seeds, top1_seeds=[r['top1'] for r in per_seed],
                train_seconds=sum(r['train_seconds'] or 0 for r in per_seed) / len(per_seed))


def reference(rows: list[Row]) -> int:
    """The row the others are paired with: the recipe itself (``baseline`` at the budget's batch and d), or in a
    table without it (Sec. 6.2) its first row, the method SimSiam's parts are added to."""
    return next((i for i, row in enumerate(rows) if row.run == 'baseline'), 0)


def paired_deltas(rows: list[Row], results: list[dict]) -> list[tuple[float | None, float | None]]:
    """Per row: mean ± sd over seeds of (row - reference row) top-1 (:func:`reference`); (None, None) with a single
    seed."""
    base = results[reference(rows)]
    if len(base.get('seeds', [])) < 2:
        return [(None, None)] * len(rows)
    return [mean_sd([a - b for a, b in zip(r['top1_seeds'], base['top1_seeds']) if a is not None and b is not None])
            for r in results]


def write_table(table: str, budget_name: str, rows: list[Row], results: list[dict], out: Path,
                wall: float, seeds: list[int]) -> None:
    title, evaluation = TABLES[table][0], BUDGETS[budget_name]['eval']
    deltas = paired_deltas(rows, results)
    lines = [f'### {title} — budget `{budget_name}` ({BUDGETS[budget_name]["note"]})', '',
             f'| row | paper: IN-1k linear top-1 (%) | ours: {evaluation} top-1 (%) | final loss | final z_std·√d | '
             'train time (s) | status |', '|---|---|---|---|---|---|---|']
    if len(seeds) > 1:
        lines[2:4] = [f'| row | paper: IN-1k linear top-1 (%) | ours: {evaluation} top-1 (%), mean ± sd over seeds '
                      f'{seeds} | per seed | paired Δ vs {rows[reference(rows)].name} (mean ± sd) | final loss '
                      f'(seed {seeds[0]}) | final z_std·√d | mean train time (s) | status |',
                      '|---|---|---|---|---|---|---|---|---|']
    for row, r, (delta, delta_sd) in zip(rows, results, deltas):
        top1 = fmt(r['top1']) if len(seeds) == 1 else f'{fmt(r["top1"])} ± {fmt(r.get("top1_sd"))}'
        extra = '' if len(seeds) == 1 else (f'{" / ".join(fmt(v) for v in r["top1_seeds"])} | '
                                            f'{fmt(delta, "+.1f")} ± {fmt(delta_sd)} | ')
        lines.append(f'| {row.name} | {fmt(row.paper)} | {top1} | {extra}{fmt(r["final_loss"], ".3f")} | '
                     f'{fmt(r["final_z_std_x_sqrt_d"], ".3f")} | {fmt(r["train_seconds"], ".0f")} | {r["status"]} |')
    lines.append(f'\nWall time of this invocation for the table: {wall:.0f} s (runs reused from earlier: 0 s).')
    stem = str(out / f'table{table}_{budget_name}')  # not Path.with_suffix: 'sec4.5' has a dot
    Path(stem + '.md').write_text('\n'.join(lines) + '\n')
    Path(stem + '.json').write_text(json.dumps(dict(
        table=title, budget=budget_name, command=' '.join(map(shlex.quote, sys.argv)), wall_seconds=round(wall),
        seeds=seeds, rows=[dict(asdict(row), **r, paired_delta=d, paired_delta_sd=sd)
                           for row, r, (d, sd) in zip(rows, results, deltas)]), indent=1))
    plot(title, budget_name, rows, results, Path(stem + '.png'))
    print('\n'.join(lines), flush=True)


def plot(title: str, budget_name: str, rows: list[Row], results: list[dict], path: Path) -> None:
    from simsiam_mm.plots import ablation_table
    ablation_table(title, budget_name, [row.name for row in rows], [row.paper for row in rows], results, path)


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import simsiam_mm  # noqa: F401  (registers our classes: the recipes' custom_imports)
    budget = BUDGETS[args.budget]
    data_root = str(Path(args.data_root or budget['data_root']).resolve())  # commands run from the repo root
    if not args.dry_run and not Path(data_root).is_dir():
        raise MissingPathError(f'--data-root {data_root}: not a folder (expected train/ and val class folders)')
    if len(set(args.seeds)) != len(args.seeds):
        raise ConfigError(f'--seeds {" ".join(map(str, args.seeds))}: a seed is repeated; give each seed once')
    tables = list(TABLES) if 'all' in args.table else args.table
    root = Path(args.work_dir) / args.budget
    out = Path(args.out_dir) if args.out_dir else root
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict] = {}
    for table in tables:
        rows = [r for r in rows_of(table, budget) if not args.rows or any(fnmatch(r.run, s) for s in args.rows)]
        results, start = [], time.perf_counter()
        for row in rows:
            per_seed = []
            for seed in args.seeds:
                run = run_name(row, seed)
                run_dir = (root / run).resolve()
                run_dir.mkdir(parents=True, exist_ok=True)
                cfg_path = run_dir / f'{run}.py'
                row_config(budget, row, data_root, args.gpus, seed).dump(str(cfg_path))
                train, evaluate = commands(cfg_path, run_dir, budget, data_root, args.gpus)
                if args.dry_run:
                    print(f'# {TABLES[table][0]}: {row.name} [paper: {row.paper}; evaluation: {budget["eval"]}; '
                          f'seed {seed}]\n{shlex.join(train)}\n{" ".join(evaluate)}')
                    continue
                if run not in done and (args.force or not (run_dir / 'result.json').exists()):
                    print(f'{TABLES[table][0]}: {row.name} ({run}) ...', flush=True)
                    done[run] = run_row(run_dir, train, evaluate)
                per_seed.append(done.setdefault(run, json.loads((run_dir / 'result.json').read_text())))
            if per_seed:
                results.append(over_seeds(per_seed, args.seeds))
        if not args.dry_run and rows:
            write_table(table, args.budget, rows, results, out, time.perf_counter() - start, args.seeds)


if __name__ == '__main__':
    main()
