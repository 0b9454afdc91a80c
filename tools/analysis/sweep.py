"""Does SimSiam work on my (unlabelled) data, and with which recipe? A label-free sweep of short runs.

Runs a small grid of short runs of the short CPU recipe on ``--data-root`` (a folder ``train/<any>/<images>``; no
labels are read), one factor at a time around the recipe: learning rate x0.5 / x2, colour jitter 0.1 / 0.4, crop
scale (0.5, 1) / (0.08, 1) (``simsiam_mm.evaluation.sweep``). Each run ends with RankMe (the effective rank of the
backbone's features and of z on 1,024 training images) and a diagnosis (healthy / dimensional / complete collapse,
``simsiam_mm.evaluation.rank``); the runs are ranked by RankMe of the backbone (a collapsed run ranks last). Writes
to ``--out-dir``: ``sweep.md`` (the table), ``sweep.csv``, ``spectra_backbone.png``, ``spectra_z.png`` and
``chosen.py`` (the best run's config, ready for a long run with ``tools/train.py``). Progress and an ETA after each
run; a run whose ``rankme.json`` exists is reused (``--force`` retrains). How it was validated against kNN:
docs/label_free.md. ::

    python tools/analysis/sweep.py --data-root data/my_images --dry-run          # list the grid
    nice -n 10 python tools/analysis/sweep.py --data-root data/my_images --iters 1500   # ~7 x 3 min on 2 cores
    python tools/analysis/sweep.py --data-root data/my_images --gpus 8 --iters 6000   # print dist_train.sh commands
    # validation (labels used only for kNN beside the score): 12 runs incl. deliberately bad ones
    python tools/analysis/sweep.py --data-root DATA --grid validation --knn-data DATA --knn-val-prefix test
"""
import argparse
import csv
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECIPE = 'configs/simsiam/simsiam_resnet18-w16_1xb64-coslr-6k_imagefolder-32px-cpu.py'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from mmengine.config import DictAction

    from simsiam_mm.errors import add_debug_flag
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data-root', required=True, help='folder holding train/<any>/<images> (no labels needed)')
    p.add_argument('--config', default=RECIPE, help='the centre of the grid (a short recipe; 64px data: the 64px one)')
    p.add_argument('--grid', default='star', choices=('star', 'validation'))
    p.add_argument('--runs', nargs='+', help='only these runs of the grid (names as --dry-run lists them)')
    p.add_argument('--iters', type=int, default=1500, help='iterations per run (the recipe: 6000)')
    p.add_argument('--rank-images', type=int, default=1024, help='images RankMe is measured on')
    p.add_argument('--work-dir', default='work_dirs/sweep', help='runs go to WORK_DIR/RUN')
    p.add_argument('--out-dir', help='table, CSV, spectra, chosen.py (default: WORK_DIR)')
    p.add_argument('--gpus', type=int, default=0, help='> 0: write the configs and print dist_train.sh commands')
    p.add_argument('--dry-run', action='store_true', help='list the grid and the commands, train nothing')
    p.add_argument('--force', action='store_true', help='retrain runs that already have a rankme.json')
    p.add_argument('--knn-data', help='validation only: a labelled folder; kNN top-1 is measured beside the score')
    p.add_argument('--knn-val-prefix', default='val', help='its query split (train/ is the bank)')
    p.add_argument('--knn-per-class-train', type=int, default=200, help='bank images per class')
    p.add_argument('--knn-per-class-val', type=int, default=100, help='query images per class')
    p.add_argument('--tag', default='', help='a label written in the CSV (e.g. the dataset name)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='applied to every run (key=value), e.g. '
                   'optim_wrapper.dtype=float32 where bfloat16 is slow')
    add_debug_flag(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    import simsiam_mm  # noqa: F401  (registers our classes)
    from simsiam_mm.apis.config import load_config, merge_options
    from simsiam_mm.errors import ConfigError
    from simsiam_mm.evaluation import sweep
    data_root = Path(args.data_root).resolve()
    runs = sweep.build_grid(args.grid)
    if args.runs:
        unknown = sorted(set(args.runs) - {r.name for r in runs})
        if unknown:
            raise ConfigError(f'--runs {" ".join(unknown)}: not in the {args.grid} grid — choose from '
                              f'{", ".join(r.name for r in runs)}.')
        runs = [r for r in runs if r.name in args.runs]
    if args.iters < 10:
        raise ConfigError(f'--iters {args.iters}: too short for a warm-up and a cosine schedule — use >= 10.')
    if not args.dry_run:
        images = sweep.check_image_folder(data_root)
        print(f'{data_root}: {images} training images; {len(runs)} runs of {args.iters} iterations', flush=True)
    base = merge_options(load_config(str(REPO / args.config if not Path(args.config).exists() else args.config)),
                         args.cfg_options)
    knn = None
    if args.knn_data:
        knn = dict(data_root=str(Path(args.knn_data).resolve()), val_prefix=args.knn_val_prefix,
                   num_per_class_train=args.knn_per_class_train, num_per_class_val=args.knn_per_class_val)
    work = Path(args.work_dir).resolve()
    out = Path(args.out_dir).resolve() if args.out_dir else work
    python = os.environ.get('PYTHON', sys.executable)
    plans = []
    for run in runs:
        run_dir = work / run.name
        cfg_path = run_dir / f'{run.name}.py'
        cmd = sweep.train_command(python, cfg_path, run_dir, args.gpus)
        plans.append((run, run_dir, cfg_path, cmd))
        if args.dry_run:
            print(f'# {run.name}: {run.note}\n{shlex.join(cmd)}')
    if args.dry_run:
        return []
    progress = sweep.Progress(len(plans))
    rows = []
    for run, run_dir, cfg_path, cmd in plans:
        run_dir.mkdir(parents=True, exist_ok=True)
        sweep.run_config(base, run, str(data_root), args.iters, args.rank_images, knn,
                         args.gpus).dump(str(cfg_path))
        if args.gpus > 0:
            print(f'# {run.name}: {run.note}\n{shlex.join(cmd)}')
            continue
        row = dict(tag=args.tag, run=run.name, note=run.note, bad=run.bad, status='ok', seconds=0.0)
        trained = args.force or not (run_dir / 'rankme.json').is_file()
        if trained:
            start = time.perf_counter()
            with open(run_dir / 'train.out', 'w') as log:
                rc = subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT).returncode
            row['seconds'] = round(time.perf_counter() - start, 1)
            (run_dir / 'seconds.txt').write_text(f'{row["seconds"]}\n')
            if rc:
                row['status'] = f'failed (exit {rc}, {run_dir / "train.out"})'
        elif (run_dir / 'seconds.txt').is_file():
            row['seconds'] = float((run_dir / 'seconds.txt').read_text())
        row.update(sweep.read_result(run_dir))
        rows.append(row)
        knn_txt = f', kNN {row["knn_top1"]:.2f}' if row.get('knn_top1') is not None else ''
        progress.step(f'{run.name}: {row["status"]}, RankMe backbone {row["rank_backbone"] or 0:.1f}, z '
                      f'{row["rank_z"] or 0:.1f}, z_std*sqrt(d) {row["z_std_x_sqrt_d"] or 0:.3f}, '
                      f'{row["diagnosis"]}{knn_txt} ({row["seconds"] / 60:.1f} min)', row['seconds'] if trained else 0)
    if args.gpus > 0:
        print(f'# then: python tools/analysis/sweep.py --data-root {args.data_root} --work-dir {args.work_dir} '
              f'--iters {args.iters}   (reads the finished runs, ranks them, writes the table)')
        return []
    rows.sort(key=lambda r: sweep.score_of(r), reverse=True)
    out.mkdir(parents=True, exist_ok=True)
    table = sweep.write_table(rows, out / 'sweep.md')
    keys = ['tag', 'run', 'note', 'bad', 'status', 'seconds', 'rank_backbone', 'rank_z', 'z_std_x_sqrt_d',
            'diagnosis', 'knn_top1']
    with open(out / 'sweep.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, keys, extrasaction='ignore')
        writer.writeheader()
        writer.writerows(rows)
    for key in ('backbone', 'z'):
        sweep.plot_sweep_spectra(rows, out / f'spectra_{key}.png', key)
    best = rows[0]
    if sweep.score_of(best) == float('-inf'):
        print(table + '\nNo run learned a usable representation (all failed or collapsed): see the diagnosis in '
              f'{work}/<run>/train.out and docs/label_free.md.')
        return rows
    chosen = out / 'chosen.py'
    chosen.write_text((work / best['run'] / f'{best["run"]}.py').read_text())
    print(table + f'\nChosen: {best["run"]} ({best["note"]}), RankMe of the backbone {best["rank_backbone"]:.1f}; '
          f'its config: {chosen} (set train_cfg.max_iters and the schedule for the long run).')
    if knn:
        sweep.plot_score_vs_knn(rows, out / 'score_vs_knn.png', f'{args.tag or data_root.name}: {args.iters} it.')
        for key in sweep.SCORES:
            pairs = [(r[key], r['knn_top1']) for r in rows if r[key] is not None and r['knn_top1'] is not None]
            rho = sweep.spearman(*zip(*pairs)) if len(pairs) > 2 else float('nan')
            print(f'Spearman rho({key}, kNN top-1) over {len(pairs)} runs: {rho:.3f}')
        top = max((r for r in rows if r['knn_top1'] is not None), key=lambda r: r['knn_top1'], default=None)
        if top is not None and best['knn_top1'] is not None:
            print(f'Pick {best["run"]}: kNN {best["knn_top1"]:.2f}; best by kNN {top["run"]}: '
                  f'{top["knn_top1"]:.2f} ({best["knn_top1"] - top["knn_top1"]:+.2f} points)')
    return rows


if __name__ == '__main__':
    from simsiam_mm.errors import cli_main
    cli_main(main)()
