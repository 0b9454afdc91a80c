"""Every ablation of the SimSiam paper by one command: train each row of a table at a budget, kNN-evaluate it, and
write the table (markdown + JSON) and a plot of loss, z_std·√d and kNN per row beside the paper's numbers.

A row is a delta config in ``configs/simsiam/ablations/`` merged onto the budget's full recipe (``BUDGETS``); Table 2
is ``baseline.py`` at each batch size of the budget's grid, lr = lr_recipe x B / B_recipe (0.05 x B / 256 for the
ImageNet recipe). Each run's merged config is written to ``<work-dir>/<budget>/<run>/<run>.py`` (also with
``--dry-run``), so every printed command can be run by hand; runs shared by several tables (the baseline) train once,
and a run whose ``result.json`` exists is reused (``--force`` retrains). With ``--gpus N`` > 1 the commands are
``tools/dist_train.sh`` ones. Paper values: ImageNet linear top-1 (%), 100-epoch pretraining; ours: kNN top-1 (%).

Examples::

    python tools/analysis/ablations.py --table 3 --budget cpu-short --data-root ../shared/data/cifar10
    python tools/analysis/ablations.py --table all --budget in1k-100e --gpus 8 --data-root data/imagenet --dry-run
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ABLATIONS = REPO / 'configs/simsiam/ablations'
RECIPES = REPO / 'configs/simsiam'
QUICK = 'simsiam_resnet18-cifar_1xb32-coslr-1e-2k_cifar10-quick.py'
PAPER_BATCH = {64: 66.1, 128: 67.3, 256: 68.1, 512: 68.1, 1024: 68.0, 2048: 67.9, 4096: 64.0}  # paper Table 2
WARMUP_FROM_BATCH, WARMUP_FRACTION = 1024, 0.1  # paper Sec. 4.3: 10 of 100 epochs warm-up for batch >= 1024

# The budgets, in one place: the recipe a row is merged onto, what the runner changes in it, the kNN protocol
# (arguments of tools/analysis/knn_eval.py) and Table 2's batch grid.
BUDGETS: dict[str, dict] = {
    'smoke': dict(
        config=QUICK, data_root='data/cifar10', batch_sizes=(4, 8),
        options={'train_dataloader.dataset.indices': 32, 'train_dataloader.batch_size': 8,
                 'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
                 'default_hooks.logger.interval': 1, 'model.backbone.base_channels': 8,
                 'model.backbone.stem_channels': 8, 'model.neck.in_channels': 64, 'model.neck.hid_channels': 64},
        knn=['--num-per-class-train', '2', '--num-per-class-val', '2', '--num-workers', '0'],
        note='pipeline check for the tests: ResNet-18-CIFAR at width 8, 4 iterations of batch 8 on 32 images'),
    'cpu-short': dict(  # the learning-evidence recipe (docs/collapse_evidence.md), cut to 400 iterations
        config=QUICK, data_root='data/cifar10', batch_sizes=(16, 32, 64, 128, 256),
        options={'default_hooks.logger.interval': 20, 'model.backbone.base_channels': 16,
                 'model.backbone.stem_channels': 16, 'model.neck.in_channels': 128,
                 'train_dataloader.dataset.indices': 12800,  # one epoch of 400 iterations at batch 32
                 'optim_wrapper.optimizer.lr': 0.5, 'optim_wrapper.optimizer.weight_decay': 5e-4,
                 'param_scheduler': [
                     dict(type='LinearLR', start_factor=0.02, by_epoch=False, begin=0, end=20),
                     dict(type='CosineAnnealingLR', T_max=380, by_epoch=False, begin=20, end=400)]},
        knn=['--num-per-class-train', '300', '--num-per-class-val', '200', '--num-workers', '1'],
        note=('ResNet-18-CIFAR at width 16, 400 iterations of batch 32 on 12,800 CIFAR-10 images, lr 0.5 (20 '
              'warm-up iterations, then cosine), wd 5e-4: minutes per row on 2 CPU cores')),
    'cifar-800e': dict(
        config='simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10.py', data_root='data/cifar10',
        batch_sizes=tuple(PAPER_BATCH), options={}, knn=[],
        note="the paper's CIFAR-10 recipe: ResNet-18-CIFAR, 800 epochs at batch 512"),
    'in1k-100e': dict(
        config='simsiam_resnet50_8xb32-coslr-100e_in1k.py', data_root='data/imagenet',
        batch_sizes=tuple(PAPER_BATCH), options={},
        knn=['--val-prefix', 'val', '--resize', '256', '--crop', '224', '--num-per-class-train', '100'],
        note="the paper's ImageNet setting: ResNet-50, 100 epochs at batch 256 (kNN: 100 train images per class)"),
}
COMMON_OPTIONS = {'randomness.seed': 0}  # every row starts from the same weights and batches


@dataclass
class Row:
    name: str  # as the paper names it
    config: str  # file stem under configs/simsiam/ablations/
    paper: float | None  # ImageNet linear top-1 (%), 100 epochs
    batch_size: int | None = None  # Table 2: total batch

    @property
    def run(self) -> str:
        return self.config if self.batch_size is None else f'{self.config}-batch{self.batch_size}'


TABLES: dict[str, tuple[str, list[Row]]] = {
    'fig2': ('Fig. 2: stop-gradient', [Row('w/ stop-grad', 'baseline', 67.7),
                                       Row('w/o stop-grad', 'no-stop-gradient', 0.1)]),
    '1': ('Table 1: predictor', [Row('no pred. MLP', 'no-predictor', 0.1),
                                 Row('fixed random init.', 'fixed-random-predictor', 1.5),
                                 Row('lr with cosine decay', 'predictor-lr-decayed', 67.7),
                                 Row('lr not decayed (default)', 'baseline', 68.1)]),
    '2': ('Table 2: batch size (SGD, lr = base x B / 256)', []),  # rows: the budget's batch grid, see rows_of
    '3': ('Table 3: BN in the MLP heads', [Row('none', 'bn-none', 34.6),
                                          Row('hidden only', 'bn-hidden-only', 67.4),
                                          Row('hidden + projector output (default)', 'baseline', 68.1),
                                          Row('all: also predictor output', 'bn-all', 35.2)]),
    '4': ('Table 4: similarity', [Row('cosine (default)', 'baseline', 68.1),
                                  Row('cross-entropy', 'cross-entropy', 63.2)]),
    '5': ('Table 5: symmetrization', [Row('sym. (default)', 'baseline', 68.1), Row('asym.', 'asymmetric', 64.8),
                                      Row('asym. 2x', 'asymmetric-2x', 67.3)]),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--table', nargs='+', required=True, choices=[*TABLES, 'all'], help="tables to run ('all')")
    p.add_argument('--budget', required=True, choices=list(BUDGETS))
    p.add_argument('--rows', nargs='+', help='only the runs whose name contains one of these (e.g. baseline)')
    p.add_argument('--data-root', help="labelled train/ and val class folders (default: the budget's)")
    p.add_argument('--work-dir', default='work_dirs/ablations', help='runs go to WORK_DIR/BUDGET/RUN')
    p.add_argument('--out-dir', help='tables and plots (default: WORK_DIR/BUDGET)')
    p.add_argument('--gpus', type=int, default=1, help='> 1: train with tools/dist_train.sh on this many GPUs')
    p.add_argument('--dry-run', action='store_true', help='write the merged configs and print the commands only')
    p.add_argument('--force', action='store_true', help='retrain runs that already have a result.json')
    return p.parse_args(argv)


def rows_of(table: str, budget: dict) -> list[Row]:
    if table == '2':
        return [Row(f'batch {b}', 'baseline', PAPER_BATCH.get(b), batch_size=b) for b in budget['batch_sizes']]
    return TABLES[table][1]


def set_batch_size(cfg, batch: int, gpus: int) -> None:
    """Total batch ``batch`` over ``gpus`` processes, lr scaled linearly from the recipe's (whose total batch is
    ``auto_scale_lr.base_batch_size``, a convention of every recipe), warm-up for large batches as in the paper."""
    base = cfg.auto_scale_lr.base_batch_size
    if batch % gpus:
        raise SystemExit(f'--gpus {gpus}: batch {batch} of Table 2 does not split evenly over the processes')
    cfg.train_dataloader.batch_size = batch // gpus
    cfg.optim_wrapper.optimizer.lr = cfg.optim_wrapper.optimizer.lr * batch / base
    cfg.auto_scale_lr.base_batch_size = batch
    if batch >= WARMUP_FROM_BATCH:
        cosine = cfg.param_scheduler[-1]
        end, by_epoch = cosine['end'], cosine.get('by_epoch', True)
        warm = max(1, round(WARMUP_FRACTION * end))
        cfg.param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=by_epoch, begin=0, end=warm),
                               dict(cosine, T_max=end - warm, begin=warm)]


def set_num_views(cfg, num_views: int, row: Row) -> None:
    steps = [t for t in cfg.train_dataloader.dataset.pipeline if t.get('type') == 'MultiView']
    if len(steps) != 1:
        raise SystemExit(f'{ABLATIONS / row.config}.py: num_views needs one MultiView step in the recipe\'s '
                         f'train pipeline, found {len(steps)}')
    steps[0].num_views = num_views


def row_config(budget: dict, row: Row, data_root: str, gpus: int):
    """The budget's recipe with the row's delta merged in: the config the run trains."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(RECIPES / budget['config']))
    delta = Config.fromfile(str(ABLATIONS / f'{row.config}.py')).to_dict()
    num_views = delta.pop('num_views', None)
    cfg.merge_from_dict(delta)
    cfg.merge_from_dict({**COMMON_OPTIONS, **budget['options'], 'train_dataloader.dataset.data_root': data_root})
    if num_views is not None:
        set_num_views(cfg, num_views, row)
    if row.batch_size is not None:
        set_batch_size(cfg, row.batch_size, gpus)
    return cfg


def commands(cfg_path: Path, run_dir: Path, budget: dict, data_root: str, gpus: int) -> tuple[list, list]:
    """The training command (``tools/train.py``, or ``tools/dist_train.sh`` on several GPUs) and the kNN one."""
    if gpus > 1:
        train = ['bash', 'tools/dist_train.sh', str(cfg_path), str(gpus), '--work-dir', str(run_dir)]
    else:
        train = [sys.executable, 'tools/train.py', str(cfg_path), '--work-dir', str(run_dir)]
    knn = [sys.executable, 'tools/analysis/knn_eval.py', str(cfg_path), '$(cat ' + str(run_dir / 'last_checkpoint')
           + ')', '--data-root', data_root, '--out', str(run_dir / 'knn.json'), *budget['knn']]
    return train, knn


def read_curves(run_dir: Path) -> dict[str, list]:
    """Loss and z_std·√d per logged iteration, from mmengine's ``vis_data/scalars.json`` of the latest run."""
    files = sorted(run_dir.glob('*/vis_data/scalars.json'))
    curves: dict[str, list] = dict(iter=[], loss=[], z_std_x_sqrt_d=[])
    for line in files[-1].read_text().splitlines() if files else []:
        rec = json.loads(line)
        if 'loss' in rec and 'z_std_x_sqrt_d' in rec:
            curves['iter'].append(rec['step'])
            curves['loss'].append(rec['loss'])
            curves['z_std_x_sqrt_d'].append(rec['z_std_x_sqrt_d'])
    return curves


def execute(cmd: list[str], log: Path) -> int:
    env = dict(os.environ, PYTHON=sys.executable)  # dist_train.sh's interpreter
    with open(log, 'a') as f:
        return subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, env=env).returncode


def run_row(row: Row, run_dir: Path, train: list, knn: list) -> dict:
    """Train, kNN-evaluate and summarise one run (a failed run is recorded, not fatal: 'unstable' rows may fail)."""
    result = dict(run=row.run, status='ok', train_seconds=None, knn_top1=None, knn_top5=None)
    start = time.perf_counter()
    rc = execute(train, run_dir / 'train.out')
    result['train_seconds'] = round(time.perf_counter() - start, 1)
    if rc != 0:
        result['status'] = f'training failed (exit {rc}, see {run_dir / "train.out"})'
    else:
        ckpt = (run_dir / 'last_checkpoint').read_text().strip()
        rc = execute([ckpt if a.startswith('$(cat ') else a for a in knn], run_dir / 'knn.out')
        if rc != 0:
            result['status'] = f'kNN failed (exit {rc}, see {run_dir / "knn.out"})'
        else:
            knn_result = json.loads((run_dir / 'knn.json').read_text())
            result.update(knn_top1=knn_result['top1'], knn_top5=knn_result['top5'])
    curves = read_curves(run_dir)
    result.update(curves=curves, final_loss=(curves['loss'] or [None])[-1],
                  final_z_std_x_sqrt_d=(curves['z_std_x_sqrt_d'] or [None])[-1])
    (run_dir / 'result.json').write_text(json.dumps(result, indent=1))
    return result


def fmt(x: float | None, spec: str = '.1f') -> str:
    return '-' if x is None else format(x, spec)


def write_table(table: str, budget_name: str, rows: list[Row], results: list[dict], out: Path) -> None:
    title = TABLES[table][0]
    lines = [f'### {title} — budget `{budget_name}` ({BUDGETS[budget_name]["note"]})', '',
             '| row | paper: IN-1k linear top-1 (%) | ours: kNN top-1 (%) | final loss | final z_std·√d | '
             'train time (s) | status |', '|---|---|---|---|---|---|---|']
    for row, r in zip(rows, results):
        lines.append(f'| {row.name} | {fmt(row.paper)} | {fmt(r["knn_top1"])} | {fmt(r["final_loss"], ".3f")} | '
                     f'{fmt(r["final_z_std_x_sqrt_d"], ".3f")} | {fmt(r["train_seconds"], ".0f")} | {r["status"]} |')
    stem = out / f'table{table}_{budget_name}'
    stem.with_suffix('.md').write_text('\n'.join(lines) + '\n')
    stem.with_suffix('.json').write_text(json.dumps(dict(
        table=title, budget=budget_name, command=' '.join(map(shlex.quote, sys.argv)),
        rows=[dict(asdict(row), **r) for row, r in zip(rows, results)]), indent=1))
    plot(title, budget_name, rows, results, stem.with_suffix('.png'))
    print('\n'.join(lines), flush=True)


def plot(title: str, budget_name: str, rows: list[Row], results: list[dict], path: Path) -> None:
    from simsiam_mm.plots import ablation_table
    ablation_table(title, budget_name, [row.name for row in rows], [row.paper for row in rows], results, path)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import simsiam_mm  # noqa: F401  (registers our classes: the recipes' custom_imports)
    budget = BUDGETS[args.budget]
    data_root = str(Path(args.data_root or budget['data_root']).resolve())  # commands run from the repo root
    if not args.dry_run and not Path(data_root).is_dir():
        raise SystemExit(f'--data-root {data_root}: not a folder (expected train/ and val class folders)')
    tables = list(TABLES) if 'all' in args.table else args.table
    root = Path(args.work_dir) / args.budget
    out = Path(args.out_dir) if args.out_dir else root
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict] = {}
    for table in tables:
        rows = [r for r in rows_of(table, budget) if not args.rows or any(s in r.run for s in args.rows)]
        results = []
        for row in rows:
            run_dir = (root / row.run).resolve()
            run_dir.mkdir(parents=True, exist_ok=True)
            cfg_path = run_dir / f'{row.run}.py'
            row_config(budget, row, data_root, args.gpus).dump(str(cfg_path))
            train, knn = commands(cfg_path, run_dir, budget, data_root, args.gpus)
            if args.dry_run:
                print(f'# {TABLES[table][0]}: {row.name}\n{shlex.join(train)}\n{" ".join(knn)}')
                continue
            if row.run not in done and (args.force or not (run_dir / 'result.json').exists()):
                print(f'{TABLES[table][0]}: {row.name} ({row.run}) ...', flush=True)
                done[row.run] = run_row(row, run_dir, train, knn)
            results.append(done.setdefault(row.run, json.loads((run_dir / 'result.json').read_text())))
        if not args.dry_run and rows:
            write_table(table, args.budget, rows, results, out)


if __name__ == '__main__':
    main()
