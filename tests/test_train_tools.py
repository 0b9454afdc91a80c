"""The user-facing commands on the real CIFAR-10 images: tools/train.py trains, checkpoints, is killed, resumes and
continues (through torch.load's weights_only default), and tools/dist_train.sh runs 2-process gloo DDP on CPU."""
import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import simsiam_mm  # noqa: F401  (allow-lists mmengine checkpoint types for torch.load)

from conftest import QUICK_CONFIG, REPO


def write_config(path: Path, cifar10_root: Path, iters: int, ckpt_interval: int) -> Path:
    path.write_text(f"""
_base_ = {str(QUICK_CONFIG)!r}
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root={str(cifar10_root)!r}, indices=64))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={iters})
param_scheduler = [dict(type='CosineAnnealingLR', T_max={iters}, by_epoch=False, begin=0, end={iters})]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={ckpt_interval}, by_epoch=False))
randomness = dict(seed=0)
log_processor = dict(by_epoch=False)
""")
    return path


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1')
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, **kwargs)


def logged_iters(text: str) -> list[int]:
    return [int(i) for i in re.findall(r'Iter\(train\) \[\s*(\d+)/\d+\]', text)]


@pytest.mark.slow  # two training processes (tools/dist_train.sh)
def test_dist_train_two_cpu_processes(cifar10_root, tmp_path):
    if torch.cuda.is_available():
        pytest.skip('checks the CPU (gloo) path; this machine has CUDA')
    cfg = write_config(tmp_path / 'cfg.py', cifar10_root, iters=3, ckpt_interval=3)
    work = tmp_path / 'work'
    res = run(['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', str(work)],
              input=None)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-4000:]
    assert 'gloo on 2 CPU processes' in log
    assert 'converted every SyncBN to BN' in log  # projector/predictor use SyncBN in the recipe
    assert logged_iters(log) == [1, 2, 3]
    ckpt = torch.load(work / 'iter_3.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 3
    assert all(k.startswith(('backbone.', 'neck.', 'head.')) for k in ckpt['state_dict'])  # no 'module.' prefix


def test_amp_flag_picks_a_wrapper_that_runs_on_this_device():
    """mmengine's AmpOptimWrapper needs CUDA; without it --amp means bf16 autocast (AutocastOptimWrapper)."""
    from mmengine.config import Config

    from simsiam_mm.apis import merge_args
    args = argparse.Namespace(config=str(QUICK_CONFIG), work_dir=None, resume=None, amp=True, no_validate=False,
                              auto_scale_lr=False, no_pin_memory=False, no_persistent_workers=False,
                              cfg_options=None, launcher='none')  # what `tools/train.py CONFIG --amp` parses
    cfg = merge_args(Config.fromfile(str(QUICK_CONFIG)), args)
    if torch.cuda.is_available():
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    else:
        assert (cfg.optim_wrapper.type, cfg.optim_wrapper.dtype) == ('AutocastOptimWrapper', 'bfloat16')
    assert cfg.optim_wrapper.constructor == 'SimSiamOptimWrapperConstructor'  # the fixed predictor lr stays


# Runs tools/train.py in this interpreter with torch.load, the checkpoint CRC check and reads of last_checkpoint
# counted by path; the counts go to the JSON file named by argv[1].
COUNTING_DRIVER = r'''
import builtins, collections, json, runpy, sys
import torch
import simsiam_mm.checkpoint as checkpoint

counts = collections.Counter()
load, problem, open_ = torch.load, checkpoint.checkpoint_problem, builtins.open

def counting_load(f, *args, **kwargs):
    counts['torch.load ' + str(f)] += 1
    return load(f, *args, **kwargs)

def counting_problem(path):
    counts['checked ' + str(path)] += 1
    return problem(path)

def counting_open(file, mode='r', *args, **kwargs):
    if str(file).endswith('last_checkpoint') and 'r' in mode:
        counts['read ' + str(file)] += 1
    return open_(file, mode, *args, **kwargs)

torch.load, checkpoint.checkpoint_problem, builtins.open = counting_load, counting_problem, counting_open
out, sys.argv = sys.argv[1], ['tools/train.py', *sys.argv[2:]]
try:
    runpy.run_path('tools/train.py', run_name='__main__')
finally:
    with open_(out, 'w') as f:
        json.dump(counts, f)
'''


@pytest.mark.slow  # two tools/train.py runs
def test_resume_reads_the_checkpoint_once(cifar10_root, tmp_path):
    """``--resume``: the path is resolved once (last_checkpoint read once), the file checked (CRC) and unpickled
    once, and the dict handed to the Runner, which continues from it (issue 23)."""
    import json
    cfg = write_config(tmp_path / 'cfg.py', cifar10_root, iters=2, ckpt_interval=2)
    work = tmp_path / 'work'
    first = run([sys.executable, 'tools/train.py', str(cfg), '--work-dir', str(work)])
    assert first.returncode == 0, first.stderr[-3000:]
    counts_file = tmp_path / 'counts.json'
    resumed = run([sys.executable, '-c', COUNTING_DRIVER, str(counts_file), str(cfg), '--work-dir', str(work),
                   '--resume', '--cfg-options', 'train_cfg.max_iters=3', 'param_scheduler.0.T_max=3',
                   'param_scheduler.0.end=3'])
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    counts = json.loads(counts_file.read_text())
    ckpt = str(work / 'iter_2.pth')
    assert counts.get(f'torch.load {ckpt}') == 1, counts
    assert counts.get(f'checked {ckpt}') == 1, counts
    assert counts.get(f'read {work / "last_checkpoint"}') == 1, counts
    assert logged_iters(log) == [3]  # continued from iteration 2
    assert re.search(r'--resume \S+iter_2\.pth: (\d+)/\1 tensors of SimSiam loaded', log), log[-3000:]
