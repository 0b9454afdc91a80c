"""The offline kit's measurements on the GPU node (run by the kit's run_kit.sh; see tools/kit/build_kit.py).

    python tools/kit/node_bench.py --kit KIT --out OUT [--budget-s 570] [--tiny]

Prints the environment, unpacks the kit's data into OUT/data, then, each part in a subprocess with a time limit so
one failure (an older torch, mmcv-lite, no GPU) is reported and skipped, never fatal:

1. throughput (``tools/analysis/train_throughput.py``, case r50-224: ResNet-50 at 224 px, batch ``--batch``):
   mmpretrain's SimSiam, ours, our fast path; (a) ``--data-on-device``: one batch on the GPU, compute bound;
   (b) every variant through the real loader over the full-size JPEGs, all cores but one as workers (end to end);
   images/s and GPU memory.
2. a short CIFAR-10 ResNet-18 SimSiam run (``tools/analysis/collapse_evidence.py``: SimSiam and, as in the paper's
   Fig. 2, the same without stop-gradient): loss, z_std*sqrt(d) and the kNN curve, its length fitted to the time left
   after a 20-iteration probe.

Writes ``OUT/kit_results.json`` (after every part), ``OUT/kit_throughput.png``, ``OUT/kit_summary.md`` and the parts'
own JSON/PNG (``OUT/throughput_*.json``, ``OUT/cifar/collapse_evidence.{json,png,md}``). ``--tiny``: seconds-long
CPU settings, for the tests.
"""
import argparse
import csv
import importlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
try:
    from simsiam_mm.errors import cli_main
except Exception:  # noqa: BLE001  (the stack is not importable on this node: main() reports it, measures nothing)
    def cli_main(main):
        return main
VARIANTS = ['mmpretrain', 'ours', 'fast']


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--kit', type=Path, required=True, help='the kit folder (data/cifar10.tar.gz, data/fullsize.tar.gz)')
    p.add_argument('--out', type=Path, required=True, help='where the results go')
    p.add_argument('--budget-s', type=float, default=570, help='time budget of all the measurements')
    p.add_argument('--batch', type=int, default=64, help='ResNet-50 @224 batch of the throughput part')
    p.add_argument('--cifar-batch', type=int, default=512, help='batch of the CIFAR-10 run (the paper: 512)')
    p.add_argument('--cifar-lr', type=float, default=0.06, help='lr of the CIFAR-10 run (the paper: 0.03 x 512/256)')
    p.add_argument('--tiny', action='store_true', help='seconds-long CPU settings (tests)')
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------------ environment


def _version(module: str) -> str:
    try:
        return str(getattr(importlib.import_module(module), '__version__', 'present'))
    except Exception as e:  # noqa: BLE001  (anything an import can raise on a foreign machine is a finding)
        return f'NOT IMPORTABLE ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ""})'


def environment() -> dict:
    """Python, packages, CPU and GPU, each probed on its own."""
    env = dict(python=sys.version.split()[0], executable=sys.executable, platform=platform.platform(),
               cpu_count=os.cpu_count())
    for module in ('torch', 'torchvision', 'numpy', 'cv2', 'PIL', 'mmengine', 'mmcv', 'mmpretrain', 'simsiam_mm',
                   'matplotlib'):
        env[module] = _version(module)
    try:
        importlib.import_module('mmcv.ops')
        env['mmcv_ops'] = 'available'
    except Exception:  # noqa: BLE001
        env['mmcv_ops'] = 'not available (mmcv-lite): pretraining needs none; mmdet/mmseg benchmarks are not run here'
    try:
        import torch
        env['cuda_available'] = torch.cuda.is_available()
        env['torch_cuda'] = torch.version.cuda
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            env.update(gpu=props.name, gpu_count=torch.cuda.device_count(),
                       gpu_memory_gib=round(props.total_memory / 2 ** 30, 1),
                       cudnn=torch.backends.cudnn.version(), bf16_supported=torch.cuda.is_bf16_supported())
    except Exception as e:  # noqa: BLE001
        env['cuda_available'] = f'unknown ({type(e).__name__}: {e})'
    return env


# ------------------------------------------------------------------------------------------------ helpers


def unpack_data(kit: Path, dest: Path) -> dict[str, Path]:
    """The kit's tars, unpacked once into ``dest``; returns the dataset roots."""
    roots = {}
    for name in ('cifar10', 'fullsize'):
        tar_path = kit / 'data' / f'{name}.tar.gz'
        if not (dest / name).is_dir():
            if not tar_path.is_file():
                raise FileNotFoundError(f'{tar_path}: missing from the kit (rebuild it with tools/kit/build_kit.py)')
            with tarfile.open(tar_path) as tar:
                tar.extractall(dest, **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))
        roots[name] = dest / name
    return roots


def run_logged(cmd: list[str], log: Path, timeout: float) -> dict:
    """Run ``cmd`` (its output streamed here and to ``log``) within ``timeout`` s; its status, never an exception."""
    start = time.time()
    if timeout < 5:
        return dict(ok=False, error=f'skipped: {timeout:.0f} s of the budget left', seconds=0.0)
    print(f'[kit] $ {" ".join(cmd)}   (limit {timeout:.0f} s)', flush=True)
    tail: list[str] = []
    with open(log, 'w') as f:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, cwd=REPO)

        def pump() -> None:
            for line in proc.stdout:
                f.write(line)
                tail.append(line.rstrip())
                del tail[:-40]
                print('    ' + line.rstrip(), flush=True)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = None
        reader.join(timeout=10)
    result = dict(ok=rc == 0, rc=rc, seconds=round(time.time() - start, 1), log=str(log))
    if rc is None:
        result['error'] = f'timed out after {timeout:.0f} s'
    elif rc != 0:
        errors = [line for line in tail if 'Error' in line or 'error' in line]
        result['error'] = (errors or tail or ['(no output)'])[-1][:400]
    return result


class Budget:
    """Seconds left of ``total`` from now."""

    def __init__(self, total: float) -> None:
        self.end = time.time() + total

    def left(self) -> float:
        return self.end - time.time()


# ------------------------------------------------------------------------------------------------ parts


def case_name(args: argparse.Namespace) -> str:
    """train_throughput's case: ResNet-50 at 224 px; in --tiny mode the CIFAR ResNet-18 at 32 px."""
    return 'r18cifar-32-b256' if args.tiny else 'r50-224-b8'


def throughput(mode: str, args: argparse.Namespace, fullsize: Path, budget: Budget, reserve: float) -> dict:
    """train_throughput.py on r50-224 for the three variants; on failure, each variant alone (what fails is named)."""
    out = args.out / f'throughput_{mode}.json'
    cmd = [sys.executable, str(REPO / 'tools/analysis/train_throughput.py'), '--cases', case_name(args),
           '--data-root', str(fullsize)]
    if args.tiny:  # the same code path on the small CIFAR network: seconds on a CPU
        cmd += ['--batch', '2', '--iters', '1', '--warmup', '0', '--no-flops', '--workers', '1', '--num-images', '4',
                '--threads', '1']  # one thread: no OpenMP spinning against the other processes on a shared CPU
    else:
        cmd += ['--batch', str(args.batch), '--iters', '10', '--warmup', '3', '--num-images', '100000',
                '--workers', str(max(1, (os.cpu_count() or 2) - 1))]
    cmd.append('--data-on-device' if mode == 'gpu_data' else '--workers-for-all')
    limit = min(240.0, budget.left() - reserve)
    status = run_logged([*cmd, '--variants', *VARIANTS, '--out', str(out)], args.out / f'throughput_{mode}.log', limit)
    if status['ok']:
        return dict(status, result=json.loads(out.read_text()))
    per_variant, merged = {}, None
    for v in VARIANTS:  # which variant fails, and the others' figures
        one = args.out / f'throughput_{mode}_{v}.json'
        per_variant[v] = run_logged([*cmd, '--variants', v, '--out', str(one)],
                                    args.out / f'throughput_{mode}_{v}.log', min(120.0, budget.left() - reserve))
        if per_variant[v]['ok']:
            res = json.loads(one.read_text())
            if merged is None:
                merged = res
            else:
                merged['cases'][case_name(args)]['variants'].update(res['cases'][case_name(args)]['variants'])
    return dict(status, per_variant=per_variant, result=merged)


def _cifar_cmd(args: argparse.Namespace, cifar: Path, out_dir: Path, iters: int, runs: list[str],
               eval_interval: int) -> list[str]:
    cmd = [sys.executable, str(REPO / 'tools/analysis/collapse_evidence.py'), '--data-root', str(cifar),
           '--out-dir', str(out_dir), '--work-dir', str(out_dir / 'work'), '--iters', str(iters),
           '--eval-interval', str(eval_interval), '--runs', *runs]
    per_class = kit_train_per_class(args.kit)
    if per_class:
        cmd += ['--train-images', str(per_class)]
    if args.tiny:
        return cmd + ['--batch-size', '8', '--width', '8', '--warmup', '1', '--bank-per-class', '4',
                      '--test-per-class', '2', '--num-workers', '0']
    workers = max(1, (os.cpu_count() or 2) - 1)
    return cmd + ['--batch-size', str(args.cifar_batch), '--width', '64', '--lr', str(args.cifar_lr),
                  '--weight-decay', '5e-4', '--warmup', str(min(50, iters // 10)), '--bank-per-class', '1000',
                  '--test-per-class', '1000', '--num-workers', str(workers), '--threads', '4']


def kit_train_per_class(kit: Path) -> int | None:
    """CIFAR-10 train images per class in the kit (MANIFEST.json), so the run's description says the subset."""
    try:
        return int(json.loads((kit / 'MANIFEST.json').read_text())['data']['train_per_class'])
    except (OSError, KeyError, ValueError):
        return None


def cifar_run(args: argparse.Namespace, cifar: Path, budget: Budget) -> dict:
    """A 20-iteration probe times an iteration; the run (SimSiam, then no stop-gradient) gets the time left."""
    if args.tiny:
        iters, probe = 4, None
    else:
        probe_dir = args.out / 'cifar_probe'
        probe = run_logged(_cifar_cmd(args, cifar, probe_dir, 20, ['simsiam'], 0), args.out / 'cifar_probe.log',
                           min(150.0, budget.left() - 30))
        if not probe['ok']:
            return dict(ok=False, error=f'probe failed: {probe.get("error")}', probe=probe)
        with open(probe_dir / 'collapse_evidence_simsiam.csv', newline='') as f:  # the per-iteration series
            rows = list(csv.DictReader(f))
        sec = statistics.median(float(r['sec']) for r in rows[5:]) * 1.25  # + loader hiccups and kNN evaluations
        iters = int(min(2000, max(20, (budget.left() - 45) / 2 / sec)))
        probe.update(sec_per_iter=round(sec / 1.25, 4))
        print(f'[kit] CIFAR-10: {sec / 1.25:.3f} s/iter measured; {iters} iterations per run fit the time left')
    status = run_logged(_cifar_cmd(args, cifar, args.out / 'cifar', iters, ['simsiam', 'no_stopgrad'],
                                   max(1, iters // 8) if not args.tiny else 2),
                        args.out / 'cifar.log', budget.left() - 5)
    status.update(iters=iters, probe=probe)
    if status['ok']:
        res = json.loads((args.out / 'cifar' / 'collapse_evidence.json').read_text())
        status['summary'] = dict(
            setting=res['setting'], random_init_top1=res.get('random_init', {}).get('top1'),
            **{run: dict(knn=[(h['iter'], h['top1']) for h in r['knn']], final_loss=r['final']['loss'],
                         final_z_std_x_sqrt_d=r['final']['z_std_x_sqrt_d'], seconds=r['seconds'])
               for run, r in res['runs'].items()})
    return status


# ------------------------------------------------------------------------------------------------ report


def throughput_rows(results: dict) -> list[str]:
    rows = []
    for mode, label in (('throughput_gpu_data', 'data on the device'), ('throughput_loader', 'real loader')):
        part = results['parts'].get(mode, {})
        res = part.get('result')
        if not res:
            rows.append(f'| {label} | failed or skipped: {part.get("error", "not run")} | | | |')
            continue
        case = next(iter(res['cases'].values()))
        base = case['variants'].get('mmpretrain', {}).get('images_per_s')
        for name, v in case['variants'].items():
            ratio = f'{v["images_per_s"] / base:.2f}x' if base else '-'
            rows.append(f'| {label} (batch {case["batch"]}, {case["resolution"]} px) | {name} | '
                        f'{v["images_per_s"]:.1f} | {ratio} | {v["peak_mem_gib"]:.2f} |')
        failed = {k: p.get('error') for k, p in part.get('per_variant', {}).items() if not p['ok']}
        rows += [f'| {label} | {k}: not measured ({e}) | | | |' for k, e in failed.items()]
    return rows


def summary_md(results: dict) -> str:
    env = results['environment']
    device = env.get('gpu') or f'CPU ({env["cpu_count"]} cores)'
    lines = [f'Device: {device}; Python {env["python"]}, torch {env["torch"]} (CUDA {env.get("torch_cuda")}), numpy '
             f'{env["numpy"]}, mmcv {env["mmcv"]} ({env["mmcv_ops"].split(":")[0]}); wall time '
             f'{results["wall_seconds"]:.0f} s.', '',
             '| data | variant | images/s | vs mmpretrain | peak memory GiB |', '|---|---|---:|---:|---:|',
             *throughput_rows(results), '']
    cifar = results['parts'].get('cifar', {})
    if cifar.get('summary'):
        s = cifar['summary']
        lines += [f'CIFAR-10: {s["setting"]}. kNN top-1 at random init: {s["random_init_top1"]}.', '',
                  '| run | kNN top-1 (%) by iteration | final loss | final z_std·√d | seconds |',
                  '|---|---|---:|---:|---:|']
        for run in ('simsiam', 'no_stopgrad'):
            if run in s:
                r = s[run]
                curve = ', '.join(f'{i}: {t:.1f}' for i, t in r['knn'])
                lines.append(f'| {run} | {curve} | {r["final_loss"]:.3f} | {r["final_z_std_x_sqrt_d"]:.3f} | '
                             f'{r["seconds"]:.0f} |')
    else:
        lines.append(f'CIFAR-10 run: failed or skipped: {cifar.get("error", "not run")}')
    return '\n'.join(lines) + '\n'


def plot_throughput(results: dict, path: Path) -> str | None:
    """Bars of images/s and peak memory per variant and data mode; the reason if no plot could be made."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except Exception as e:  # noqa: BLE001
        return f'no plot: matplotlib not importable ({e})'
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for offset, (mode, label) in enumerate((('throughput_gpu_data', 'data on the device'),
                                            ('throughput_loader', 'real loader, all cores'))):
        res = results['parts'].get(mode, {}).get('result')
        if not res:
            continue
        variants = next(iter(res['cases'].values()))['variants']
        xs = [VARIANTS.index(v) + 0.4 * offset for v in variants]
        axes[0].bar(xs, [v['images_per_s'] for v in variants.values()], width=0.4, label=label)
        axes[1].bar(xs, [v['peak_mem_gib'] for v in variants.values()], width=0.4, label=label)
    for ax, title in zip(axes, ('images/s (two views each)', 'peak memory (GiB)')):
        ax.set_xticks([i + 0.2 for i in range(len(VARIANTS))], VARIANTS)
        ax.set_title(title)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        else:
            ax.text(0.5, 0.5, 'not measured (see kit_results.json)', ha='center', transform=ax.transAxes)
    env = results['environment']
    model = 'ResNet-18-CIFAR @32 (tiny)' if results['tiny'] else 'ResNet-50 @224'
    fig.suptitle(f'SimSiam {model} on {env.get("gpu") or "CPU"}, torch {env["torch"]}', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def save(results: dict) -> None:
    path = results['out'] / 'kit_results.json'
    path.write_text(json.dumps(results, indent=1, default=str))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    budget = Budget(args.budget_s)
    env = environment()
    print('[kit] environment:\n' + '\n'.join(f'    {k}: {v}' for k, v in env.items()), flush=True)
    results = dict(out=args.out, environment=env, args=vars(args), tiny=args.tiny, parts={},
                   started_utc=time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime()))
    if 'NOT IMPORTABLE' in env['mmengine'] + env['simsiam_mm'] + env['torch']:
        results['error'] = 'torch, mmengine or simsiam_mm is not importable: nothing can be measured (see above)'
    else:
        try:
            data = unpack_data(args.kit, args.out / 'data')
        except (OSError, tarfile.TarError) as e:
            data, results['error'] = None, f'data: {e}'
        if data:
            if env.get('cuda_available') is not True and not args.tiny:
                print('[kit] no CUDA device: the measurements run on the CPU (slow; they stop at the budget)')
            reserve = 60 if args.tiny else 0.55 * args.budget_s  # the CIFAR run's share
            for mode in ('gpu_data', 'loader'):
                results['parts'][f'throughput_{mode}'] = throughput(mode, args, data['fullsize'], budget, reserve)
                save(results)
            results['parts']['cifar'] = cifar_run(args, data['cifar10'], budget)
    results['wall_seconds'] = time.time() - start
    results['plot'] = plot_throughput(results, args.out / 'kit_throughput.png') or str(args.out / 'kit_throughput.png')
    save(results)
    (args.out / 'kit_summary.md').write_text(summary_md(results))
    print(summary_md(results))
    failed = [k for k, p in results['parts'].items() if not p.get('ok')]
    print(f'[kit] parts: {len(results["parts"]) - len(failed)} ok' + (f', not ok: {failed}' if failed else '')
          + (f'; {results["error"]}' if 'error' in results else ''))
    return 0 if results['parts'] and not failed else 1


if __name__ == '__main__':
    sys.exit(cli_main(main)())
