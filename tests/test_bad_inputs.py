"""Bad inputs through the real command lines (issue 13): every one ends in one clear line, nothing good is changed.

Each case runs a tool's command line in its own process, as a user would, and asserts the designed outcome (a refusal
with exit status 1, or exit 0 where finishing cleanly is the design), no ``Traceback`` in the output, the culprit's
file name or config key in the last line, and that no good file changed (sha256 of every existing file the case
names, before and after). The cases run concurrently (a few subprocesses at a time) in one module-scoped fixture;
each is reported as its own test. Most fail in the pre-checks, before a model is built; those that need a training
start are marked ``slow``. The processes are forked from ``tests/tool_server.py``, which has imported the package
once (a tool's start-up is mostly that import, ~9 CPU s); cases with a launcher (``bash tools/dist_train.sh``) and
every case under ``BAD_INPUTS_SUBPROCESS=1`` run as plain ``python TOOL ARGS`` subprocesses.
"""
import hashlib
import itertools
import json
import os
import queue
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from conftest import DATA, QUICK_CONFIG, REPO, ToolServer, pretrain, tiny_pretrain_cfg

ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore', PYTHONPATH=str(REPO))
TINY_MODEL = dict(backbone=dict(base_channels=8, stem_channels=8),
                  neck=dict(in_channels=64, hid_channels=64, out_channels=64),
                  head=dict(predictor=dict(in_channels=64, hid_channels=16, out_channels=64)))
TRAIN, TEST = 'tools/train.py', 'tools/test.py'
KNN, SVM = 'tools/analysis/knn_eval.py', 'tools/analysis/voc_svm.py'
EVIDENCE, KIT = 'tools/analysis/learning_evidence.py', 'tools/kit/build_kit.py'
CPU_RECIPE = REPO / 'configs/simsiam/simsiam_resnet18-w16_1xb64-coslr-6k_imagefolder-64px-cpu.py'
SWEEP, ABLATIONS = 'tools/analysis/sweep.py', 'tools/analysis/ablations.py'
CONV = 'tools/model_converters/'
DOWNSTREAM, PREPARE = 'tools/benchmarks/train_downstream.py', 'tools/data/prepare_cifar10.py'
VOC12AUG = 'benchmarks/mmsegmentation/voc12aug/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py'
LINEAR = REPO / 'benchmarks/classification/cifar10/resnet18-cifar_linear-1xb512-coslr-100e_cifar10.py'


@dataclass
class Case:
    """A command line, what it must print (``culprit``, in the last line) and how it must end."""
    argv: list[str]
    culprit: str
    returncode: int = 1
    must_not_say: tuple[str, ...] = ()
    also_say: tuple[str, ...] = ()  # anywhere in the output (e.g. a counted skip's warning)
    protect: list[Path] = field(default_factory=list)  # files besides those named in argv
    absent: list[Path] = field(default_factory=list)  # must not exist afterwards (partial files)
    present: list[Path] = field(default_factory=list)  # must exist afterwards (an output the tool promised)
    may_change: list[Path] = field(default_factory=list)  # named in argv but the tool's own output (not hashed)
    file_size_limit: int | None = None  # RLIMIT_FSIZE in bytes: a full disk for writes beyond it
    launcher: list[str] | None = None  # e.g. ['bash', 'tools/dist_train.sh']: replaces [python]
    timeout: int = 420


@dataclass
class Ctx:
    """Shared inputs: real data, tiny checkpoints, a config file they were trained with."""
    tmp: Path
    cifar: Path
    cfg: Path  # tiny ResNet-18-CIFAR pretraining config (1/8 width), the checkpoints' config
    mid: Path  # a mid-epoch ResumableCheckpointHook checkpoint (iteration 2 of 4 in epoch 1)
    done: Path  # the end-of-run checkpoint (epoch 1 of 1)
    data: list[str]  # --cfg-options that point the tiny config at its 16 images

    def file(self, name: str, content: bytes | str) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path


# ----------------------------------------------------------------------------------------------------------------
# The cases: name -> function(ctx) -> Case
# ----------------------------------------------------------------------------------------------------------------
CASES: dict[str, Callable[[Ctx], Case]] = {}
WORK_IDS = itertools.count()
TRAINING = set()  # cases that start training or several processes (the rest stop in the pre-checks)


def case(name: str, training: bool = False):
    def register(fn):
        CASES[name] = fn
        if training:
            TRAINING.add(name)
        return fn
    return register


def _linear_test_data(c: Ctx) -> list[str]:
    """--cfg-options that point the CIFAR-10 linear config's test split at 8 real images, loaded in-process."""
    return [f'test_dataloader.dataset.data_root={c.cifar}', 'test_dataloader.dataset.indices=8',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']


def train(c: Ctx, *options: str, work: str | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """tools/train.py on the tiny config, in a work dir of its own (the cases run concurrently)."""
    work = work or f'work_{next(WORK_IDS)}'
    return [TRAIN, str(c.cfg), '--work-dir', str(c.tmp / work), *extra, '--cfg-options', *c.data, *options]


@case('config path does not exist')
def _(c):
    return Case([TRAIN, str(c.tmp / 'no_such_config.py')], 'no_such_config.py')


@case('config with a Python syntax error')
def _(c):
    bad = c.file('syntax_error_cfg.py', f"_base_ = '{QUICK_CONFIG}'\nmodel = dict(backbone=dict(depth=18)\n")
    return Case([TRAIN, str(bad)], 'syntax_error_cfg.py')


@case('config path is a folder')
def _(c):
    return Case([TRAIN, str(REPO / 'configs/simsiam')], 'configs/simsiam')


@case('train_dataloader.batch_size=abc')
def _(c):
    return Case(train(c, 'train_dataloader.batch_size=abc'), 'train_dataloader.batch_size')


@case('train_dataloader.batch_size=1 (BatchNorm)')
def _(c):
    return Case(train(c, 'train_dataloader.batch_size=1'), 'train_dataloader.batch_size')


@case('train_dataloader.num_workers=-1')
def _(c):
    return Case(train(c, 'train_dataloader.num_workers=-1'), 'train_dataloader.num_workers')


@case('negative lr')
def _(c):
    return Case(train(c, 'optim_wrapper.optimizer.lr=-0.1'), 'optim_wrapper.optimizer.lr')


@case('lr that is not a number')
def _(c):
    return Case(train(c, 'optim_wrapper.optimizer.lr=fast'), 'optim_wrapper.optimizer.lr')


@case('data_root does not exist')
def _(c):
    return Case(train(c, f'train_dataloader.dataset.data_root={c.tmp / "nowhere"}'), 'nowhere')


@case('data_root is a file')
def _(c):
    f = c.file('data_root_file.txt', 'not a folder')
    return Case(train(c, f'train_dataloader.dataset.data_root={f}'), 'is a file, not a folder')


@case('data_root with an empty class folder')
def _(c):
    root = c.tmp / 'empty_class'
    (root / 'train' / 'cat').mkdir(parents=True)
    (root / 'train' / 'dog').mkdir(parents=True)
    shutil.copy(next((c.cifar / 'train' / 'dog').glob('*.jpg')), root / 'train' / 'dog')
    return Case(train(c, f'train_dataloader.dataset.data_root={root}'), 'cat')


@case('misspelt model key')
def _(c):
    return Case(train(c, 'model.backbone.dpeth=18'), 'model.backbone.dpeth')


@case('unknown registry type')
def _(c):
    return Case(train(c, 'model.neck.type=SimSiamProjektor'), 'model.neck.type')


@case('Sec. 5.2 alternation model trained without its loop', training=True)
def _(c):
    return Case(train(c, 'model.type=AlternatingSimSiam'), 'AlternationLoop')


@case('Sec. 5.2 moving-average memory smaller than the data set', training=True)
def _(c):
    return Case(train(c, 'model.type=MovingAverageSimSiam', 'model.memory_size=2'), 'model.memory_size')


@case('misspelt top-level key')
def _(c):
    cfg = c.file('toplevel_typo_cfg.py', f"_base_ = '{c.cfg}'\ntrain_dataloder = dict(batch_size=4)\n")
    return Case([TRAIN, str(cfg), '--work-dir', str(c.tmp / 'w'), '--cfg-options', *c.data], 'train_dataloder')


@case('--work-dir is a file')
def _(c):
    f = c.file('workdir_is_a_file', 'precious notes')
    return Case([TRAIN, str(c.cfg), '--work-dir', str(f), '--cfg-options', *c.data], 'workdir_is_a_file')


@case('--work-dir under a file')
def _(c):
    f = c.file('parent_file', 'precious notes')
    return Case([TRAIN, str(c.cfg), '--work-dir', str(f / 'run'), '--cfg-options', *c.data], 'parent_file')


@case('dataset smaller than one batch (drop_last)')
def _(c):
    return Case(train(c, 'train_dataloader.dataset.indices=3', work='tiny_data'), 'train_dataloader.dataset',
                absent=[c.tmp / 'tiny_data' / 'epoch_1.pth', c.tmp / 'tiny_data' / 'last_checkpoint'])


@case('--resume of a missing file')
def _(c):
    return Case(train(c, extra=('--resume', str(c.tmp / 'iter_99.pth'))), 'iter_99.pth',
                must_not_say=('cut short',))


@case('--resume of a text file')
def _(c):
    f = c.file('notes.pth', 'these are my notes, not a checkpoint\n')
    return Case(train(c, extra=('--resume', str(f))), 'notes.pth', must_not_say=('cut short', 'Re-running'))


@case('--resume of a random binary file')
def _(c):
    f = c.file('random.pth', bytes(range(256)) * 4)
    return Case(train(c, extra=('--resume', str(f))), 'random.pth', must_not_say=('cut short', 'Re-running'))


@case('--resume of an empty file')
def _(c):
    f = c.file('empty.pth', b'')
    return Case(train(c, extra=('--resume', str(f))), 'empty.pth', must_not_say=('cut short',))


@case('--resume of a truncated checkpoint')
def _(c):
    f = c.file('truncated/iter_3.pth', c.mid.read_bytes()[:len(c.mid.read_bytes()) // 2])
    return Case(train(c, extra=('--resume', str(f))), 'iter_3.pth', also_say=('cut short',))


@case('--resume of a model-only (published) checkpoint')
def _(c):
    ckpt = torch.load(c.mid, map_location='cpu', weights_only=False)
    path = c.tmp / 'model_only.pth'
    torch.save(dict(meta=ckpt['meta'], state_dict=ckpt['state_dict']), path)
    return Case(train(c, extra=('--resume', str(path))), 'model_only.pth', also_say=('load_from',))


@case('--resume with another architecture')
def _(c):
    return Case(train(c, 'model.backbone.depth=34', extra=('--resume', str(c.mid))), Path(c.mid).name,
                also_say=('another architecture',), must_not_say=('size mismatch',))


@case('--resume after the dataset size changed')
def _(c):
    options = ('train_dataloader.dataset.indices=8', 'train_cfg.max_epochs=2')
    return Case(train(c, *options, extra=('--resume', str(c.mid))), Path(c.mid).name, also_say=('16 samples',),
                must_not_say=('outside',))


@case('--resume of a finished run')
def _(c):
    return Case(train(c, extra=('--resume', str(c.done))), 'already complete', returncode=0,
                must_not_say=('11/10', 'Epoch(train)'))


@case('--resume where last_checkpoint names a missing file')
def _(c):
    work = c.tmp / 'dangling'
    work.mkdir()
    (work / 'last_checkpoint').write_text(str(work / 'iter_7.pth'))
    return Case([TRAIN, str(c.cfg), '--work-dir', str(work), '--resume', '--cfg-options', *c.data], 'iter_7.pth',
                must_not_say=('cut short',))


def _header_only_neighbours(c: Ctx, folder: str) -> Path:
    """A folder whose newest files pass only a header test: random bytes after the pickle's 0x80, a backbone-only
    file and a published (weights + meta) file, beside a truncated iter_5.pth to resume from."""
    ckpt = torch.load(c.mid, map_location='cpu', weights_only=False)
    c.file(f'{folder}/iter_9.pth', b'\x80' + bytes((i * 97 + 13) % 256 for i in range(4096)))
    torch.save({'state_dict': {k: v for k, v in ckpt['state_dict'].items() if k.startswith('backbone.')}},
               c.tmp / folder / 'iter_8.pth')
    torch.save(dict(meta=ckpt['meta'], state_dict=ckpt['state_dict']), c.tmp / folder / 'iter_7.pth')
    return c.file(f'{folder}/iter_5.pth', c.mid.read_bytes()[:len(c.mid.read_bytes()) // 2])


@case('--resume of a truncated file whose neighbours pass only a header test')
def _(c):
    bad = _header_only_neighbours(c, 'fake_neighbours')
    return Case(train(c, extra=('--resume', str(bad))), 'iter_5.pth', also_say=('no other complete checkpoint',),
                must_not_say=('previous complete checkpoint is',))


@case('--resume of a truncated file: the complete neighbour is offered, not the newer fakes')
def _(c):
    bad = _header_only_neighbours(c, 'one_good_neighbour')
    good = c.tmp / 'one_good_neighbour' / 'iter_1.pth'
    shutil.copy(c.mid, good)
    return Case(train(c, extra=('--resume', str(bad))), 'iter_5.pth',
                also_say=(f'the previous complete checkpoint is {good}',))


@case('load_from of a backbone-only file')
def _(c):
    ckpt = torch.load(c.mid, map_location='cpu', weights_only=False)
    f = c.tmp / 'backbone_only.pth'
    torch.save({'state_dict': {k: v for k, v in ckpt['state_dict'].items() if k.startswith('backbone.')}}, f)
    return Case(train(c, f'load_from={f}'), 'backbone_only.pth', also_say=('CheckedPretrained', 'not in the file'),
                must_not_say=('missing keys', 'Epoch(train)'))


@case('load_from of a checkpoint of another architecture')
def _(c):
    return Case(train(c, f'load_from={c.mid}', 'model.backbone.depth=34'), Path(c.mid).name,
                also_say=('load_from',), must_not_say=('size mismatch', 'Epoch(train)'))


@case('load_from of a damaged file (0x80, then garbage)')
def _(c):
    f = c.file('damaged80.pth', b'\x80' + bytes((i * 31 + 7) % 256 for i in range(4096)))
    return Case(train(c, f'load_from={f}'), 'damaged80.pth', also_say=('damaged or cut short',),
                must_not_say=('weights_only', 'Re-running', 'Epoch(train)'))


@case('full disk while saving a checkpoint', training=True)
def _(c):
    work = c.tmp / 'full_disk'
    size = c.mid.stat().st_size
    return Case(train(c, 'train_cfg.max_epochs=1', work='full_disk'), 'iter_2.pth',
                also_say=('partial file was removed',), file_size_limit=size // 2,
                absent=[work / 'iter_2.pth.tmp', work / 'iter_2.pth'])


@case('num_workers=0 with the shipped persistent_workers=True', training=True)
def _(c):
    return Case(train(c, 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=True',
                      'train_cfg.max_epochs=1', work='workers0'), 'persistent_workers', returncode=0)


@case('corrupt image among the training data (counted skip)', training=True)
def _(c):
    root = c.tmp / 'one_corrupt'
    for i, src in enumerate(sorted((c.cifar / 'train' / 'dog').glob('*.jpg'))[:15]):
        (root / 'train' / 'dog').mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / 'train' / 'dog' / src.name)
    (root / 'train' / 'dog' / 'zz_cut.jpg').write_bytes(b'\xff\xd8\xff\xe0 cut short')
    return Case(train(c, f'train_dataloader.dataset.data_root={root}', 'train_dataloader.dataset.indices=None',
                      'train_cfg.max_epochs=1', work='corrupt'), 'zz_cut.jpg', returncode=0,
                also_say=('skipped corrupt image', 'min_samples'))


@case('torchrun: a bad value on every rank', training=True)
def _(c):
    argv = [str(c.cfg), '2', '--work-dir', str(c.tmp / 'dist'), '--cfg-options', *c.data,
            'train_dataloader.batch_size=abc']
    return Case(argv, 'train_dataloader.batch_size', launcher=['bash', 'tools/dist_train.sh'])


# ---- tools/test.py, analysis tools ------------------------------------------------------------------------------
@case('test.py with a missing checkpoint')
def _(c):
    return Case([TEST, str(c.cfg), str(c.tmp / 'gone.pth')], 'gone.pth')


@case('test.py with a missing config')
def _(c):
    return Case([TEST, str(c.tmp / 'gone_cfg.py'), str(c.mid)], 'gone_cfg.py')


@case('test.py with a pretraining checkpoint (another model)')
def _(c):
    return Case([TEST, str(LINEAR), str(c.mid), '--work-dir', str(c.tmp / 'test_other'), '--cfg-options',
                 *_linear_test_data(c)], Path(c.mid).name, also_say=('ImageClassifier',),
                must_not_say=('missing keys', 'size mismatch'))


@case('test.py with a damaged checkpoint')
def _(c):
    f = c.file('test_damaged.pth', b'\x80' + bytes((i * 31 + 7) % 256 for i in range(4096)))
    return Case([TEST, str(LINEAR), str(f), '--work-dir', str(c.tmp / 'test_damaged'), '--cfg-options',
                 *_linear_test_data(c)], 'test_damaged.pth', must_not_say=('weights_only', 'Re-running'))


@case('knn_eval.py with a wrong --data-root')
def _(c):
    return Case([KNN, str(c.cfg), str(c.mid), '--data-root', str(c.tmp / 'no_cifar')], 'no_cifar')


@case('knn_eval.py with a --data-root that is a file')
def _(c):
    f = c.file('knn_root.txt', 'x')
    return Case([KNN, str(c.cfg), str(c.mid), '--data-root', str(f)], 'knn_root.txt')


@case('knn_eval.py with a wrong --val-prefix')
def _(c):
    return Case([KNN, str(c.cfg), str(c.mid), '--data-root', str(c.cifar), '--val-prefix', 'nope'], 'nope')


@case('sweep.py with a missing --data-root')
def _(c):
    return Case([SWEEP, '--data-root', str(c.tmp / 'no_sweep_images'), '--work-dir', str(c.tmp / 'sweep_a')],
                'no_sweep_images', absent=[c.tmp / 'sweep_a'])


@case('sweep.py with an empty --data-root')
def _(c):
    (c.tmp / 'sweep_empty' / 'train' / 'x').mkdir(parents=True, exist_ok=True)
    return Case([SWEEP, '--data-root', str(c.tmp / 'sweep_empty'), '--work-dir', str(c.tmp / 'sweep_b')],
                'sweep_empty', absent=[c.tmp / 'sweep_b'])


@case('ablations.py with a missing --data-root')
def _(c):
    return Case([ABLATIONS, '--table', '4', '--budget', 'smoke', '--data-root', str(c.tmp / 'no_ablation_data'),
                 '--work-dir', str(c.tmp / 'ablations_a')], 'no_ablation_data', absent=[c.tmp / 'ablations_a'])


@case('ablations.py with a repeated seed')
def _(c):
    return Case([ABLATIONS, '--table', '4', '--budget', 'smoke', '--seeds', '0', '1', '0', '--data-root',
                 str(c.cifar), '--work-dir', str(c.tmp / 'ablations_b')], '--seeds 0 1 0',
                absent=[c.tmp / 'ablations_b'])


@case('knn_eval.py with a missing checkpoint')
def _(c):
    return Case([KNN, str(c.cfg), str(c.tmp / 'knn_gone.pth'), '--data-root', str(c.cifar), '--num-workers', '0',
                 '--num-per-class-train', '1', '--num-per-class-val', '1'], 'knn_gone.pth')


@case('voc_svm.py with a wrong --voc-root')
def _(c):
    return Case([SVM, str(c.cfg), 'random', '--voc-root', str(c.tmp / 'no_voc'), '--num-workers', '0'], 'no_voc')


@case('voc_svm.py --stage 1 on a non-ResNet backbone')
def _(c):
    return Case([SVM, str(QUICK_CONFIG), 'random', '--voc-root', str(DATA / 'downstream/VOCdevkit/VOC2007'),
                 '--stage', '1'], '--stage 1')


# ---- converters ------------------------------------------------------------------------------------------------
@case('extract_backbone_weights.py: missing input')
def _(c):
    return Case([CONV + 'extract_backbone_weights.py', str(c.tmp / 'nope.pth'), str(c.tmp / 'o1.pth')], 'nope.pth',
                must_not_say=('cut short',), absent=[c.tmp / 'o1.pth'])


@case('extract_backbone_weights.py: a text file')
def _(c):
    f = c.file('readme.pth', 'hello\n' * 20)
    return Case([CONV + 'extract_backbone_weights.py', str(f), str(c.tmp / 'o2.pth')], 'readme.pth',
                must_not_say=('cut short', 'Re-running'), absent=[c.tmp / 'o2.pth'])


@case('extract_backbone_weights.py: a random file')
def _(c):
    f = c.file('noise.pth', os.urandom(2048))
    return Case([CONV + 'extract_backbone_weights.py', str(f), str(c.tmp / 'o3.pth')], 'noise.pth',
                must_not_say=('cut short', 'Re-running'), absent=[c.tmp / 'o3.pth'])


@case('extract_backbone_weights.py: a truncated checkpoint')
def _(c):
    f = c.file('cut.pth', c.mid.read_bytes()[:5000])
    return Case([CONV + 'extract_backbone_weights.py', str(f), str(c.tmp / 'o4.pth')], 'cut.pth',
                must_not_say=('Re-running',), absent=[c.tmp / 'o4.pth'])


@case('extract_backbone_weights.py: output under a file')
def _(c):
    f = c.file('out_parent', 'precious')
    return Case([CONV + 'extract_backbone_weights.py', str(c.mid), str(f / 'b.pth')], 'out_parent')


@case('extract_backbone_weights.py: existing good output kept on failure')
def _(c):
    good = c.file('good_out.pth', b'a good earlier output')
    bad = c.file('neck_only_a.pth', b'')
    torch.save(dict(state_dict={'neck.mlp.0.weight': torch.zeros(2, 2)}), bad)
    return Case([CONV + 'extract_backbone_weights.py', str(bad), str(good)], 'neck_only_a.pth')


@case('simsiam_mm_to_torchvision.py: no backbone keys')
def _(c):
    bad = c.file('neck_only_b.pth', b'')
    torch.save(dict(state_dict={'neck.mlp.0.weight': torch.zeros(2, 2)}), bad)
    return Case([CONV + 'simsiam_mm_to_torchvision.py', str(bad), str(c.tmp / 'tv.pth')], 'neck_only_b.pth',
                also_say=('no backbone keys',))


@case('simsiam_mm_to_torchvision.py: a torchvision file names keys as it holds them')
def _(c):
    import torchvision
    f = c.tmp / 'torchvision_r18.pth'
    torch.save(torchvision.models.resnet18().state_dict(), f)
    return Case([CONV + 'simsiam_mm_to_torchvision.py', str(f), str(c.tmp / 'tv2.pth')], 'fc.weight',
                must_not_say=('backbone.fc',), absent=[c.tmp / 'tv2.pth'])


@case('official_to_simsiam_mm.py on our own checkpoint')
def _(c):
    return Case([CONV + 'official_to_simsiam_mm.py', str(c.mid), str(c.tmp / 'back.pth')], Path(c.mid).name,
                also_say=('already a simsiam_mm checkpoint',), must_not_say=('--allow-unexpected',))


@case('official_to_simsiam_mm.py --allow-unexpected on our own checkpoint')
def _(c):
    return Case([CONV + 'official_to_simsiam_mm.py', str(c.mid), str(c.tmp / 'back2.pth'), '--allow-unexpected'],
                Path(c.mid).name, must_not_say=('start with \n', 'start with  '))


@case('simsiam_mm_to_official.py on a backbone-only file')
def _(c):
    ckpt = torch.load(c.mid, map_location='cpu', weights_only=False)
    f = c.tmp / 'backbone_only.pth'
    torch.save(dict(state_dict={k: v for k, v in ckpt['state_dict'].items() if k.startswith('backbone.')}), f)
    return Case([CONV + 'simsiam_mm_to_official.py', str(f), str(c.tmp / 'off.pth.tar')], 'backbone_only.pth')


@case('simsiam_mm_to_detectron2.py on a CIFAR-stem backbone')
def _(c):
    return Case([CONV + 'simsiam_mm_to_detectron2.py', str(c.mid), str(c.tmp / 'd2.pkl')], 'backbone.conv1.weight')


@case('publish_model.py --verify on a file whose name does not match its hash')
def _(c):
    f = c.tmp / 'published-00000000.pth'
    shutil.copy(c.mid, f)
    return Case([CONV + 'publish_model.py', '--verify', str(f)], 'published-00000000.pth')


# ---- learning_evidence.py, plot_curves.py (issue 22) ------------------------------------------------------------
EVIDENCE, CURVES = 'tools/analysis/learning_evidence.py', 'tools/analysis/plot_curves.py'
RECIPE_32PX = 'configs/simsiam/simsiam_resnet18-w16_1xb64-coslr-6k_imagefolder-32px-cpu.py'


def train_only_folder(c: Ctx, name: str, per_class: dict[str, int]) -> Path:
    """``name/train/<class>/`` with real CIFAR-10 images (``per_class[class]`` of each) and no val/ or test/ split."""
    for cls, n in per_class.items():
        (c.tmp / name / 'train' / cls).mkdir(parents=True, exist_ok=True)
        for src in sorted((c.cifar / 'train' / cls).glob('*.jpg'))[:n]:
            shutil.copy(src, c.tmp / name / 'train' / cls)
    return c.tmp / name


def evidence(c: Ctx, root: Path, *options: str) -> list[str]:
    return [EVIDENCE, RECIPE_32PX, '--data-root', str(root), '--out-dir', str(c.tmp / f'{root.name}_out'),
            '--work-dir', str(c.tmp / f'{root.name}_wd'), '--threads', '1', *options, '--cfg-options',
            'train_cfg.max_iters=2', 'train_dataloader.batch_size=4']


@case('learning_evidence.py --holdout-per-class on a folder with a train split only (works)', training=True)
def _(c):
    root = train_only_folder(c, 'le_train_only', {'cat': 6, 'dog': 6, 'ship': 6})
    return Case(evidence(c, root, '--holdout-per-class', '2', '--evals', '1'), 'Gain over the strongest random init',
                returncode=0, also_say=('bank 12 train / queries 6 train (held-out 2/class)',))


@case('learning_evidence.py --holdout-per-class larger than a class')
def _(c):
    root = train_only_folder(c, 'le_small_class', {'cat': 6, 'dog': 2, 'ship': 6})
    return Case(evidence(c, root, '--holdout-per-class', '3', '--evals', '1'), "class 'dog' has 2 image(s)",
                absent=[c.tmp / 'le_small_class_out'])


@case('learning_evidence.py --evals 0')
def _(c):
    root = train_only_folder(c, 'le_evals0', {'cat': 2})
    return Case(evidence(c, root, '--evals', '0'), '--evals', returncode=2, absent=[c.tmp / 'le_evals0_wd'])


def scalars(c: Ctx, name: str, text: str) -> Path:
    c.file(f'{name}/vis_data/scalars.json', text)
    return c.tmp / name


SCALARS = ''.join(f'{{"loss": {-0.1 * i}, "z_std_x_sqrt_d": 1.0, "lr": 0.05, "iter": {i}, "step": {i}}}\n'
                  for i in range(1, 4))


@case('plot_curves.py on a scalars.json cut off mid-line (a killed run): skipped with a note')
def _(c):
    work = scalars(c, 'curves_cut', SCALARS + '{"loss": -0.4, "z_std_x')
    return Case([CURVES, str(work), '--out', str(c.tmp / 'curves_cut.png')], 'scalars.json:4: partial last line',
                returncode=0)


@case('plot_curves.py on a scalars.json with a broken line inside')
def _(c):
    work = scalars(c, 'curves_bad', SCALARS.replace('"lr": 0.05, "iter": 2', '"lr": 0.05 "iter": 2'))
    return Case([CURVES, str(work), '--out', str(c.tmp / 'curves_bad.png')], 'scalars.json:2',
                absent=[c.tmp / 'curves_bad.png'])


@case('plot_curves.py on a summary JSON cut off mid-line')
def _(c):
    f = c.file('le_summary_cut.json', '{"figure": "learning_evidence", "knn": [')
    return Case([CURVES, str(f)], 'le_summary_cut.json:1', absent=[c.tmp / 'le_summary_cut.png'])


# ---- downstream runner, data preparation ------------------------------------------------------------------------
@case('train_downstream.py: missing pretrained checkpoint')
def _(c):
    return Case([DOWNSTREAM, VOC12AUG, str(c.tmp / 'pre_gone.pth'), '--work-dir', str(c.tmp / 'ds1'), '--smoke',
                 '--data-root', str(DATA / 'downstream/voc_seg_rock/VOCdevkit/VOC2012')], 'pre_gone.pth')


@case('train_downstream.py: checkpoint without backbone')
def _(c):
    bad = c.file('encoder_only.pth', b'')
    torch.save({'state_dict': {'module.encoder.conv1.weight': torch.zeros(1)}}, bad)
    return Case([DOWNSTREAM, VOC12AUG, str(bad), '--work-dir', str(c.tmp / 'ds2'), '--smoke',
                 '--data-root', str(DATA / 'downstream/voc_seg_rock/VOCdevkit/VOC2012')], 'encoder_only.pth')


@case('train_downstream.py: a damaged pretrained checkpoint (0x80, then garbage)')
def _(c):
    f = c.file('pre_damaged.pth', b'\x80' + bytes((i * 31 + 7) % 256 for i in range(4096)))
    return Case([DOWNSTREAM, VOC12AUG, str(f), '--work-dir', str(c.tmp / 'ds6'), '--smoke',
                 '--data-root', str(DATA / 'downstream/voc_seg_rock/VOCdevkit/VOC2012')], 'pre_damaged.pth',
                must_not_say=('weights_only', 'Re-running', 'pretrain_backbone'))


@case('train_downstream.py: a --cfg-options index past the end of a list')
def _(c):
    return Case([DOWNSTREAM, VOC12AUG, str(c.mid), '--work-dir', str(c.tmp / 'ds5'), '--smoke',
                 '--data-root', str(DATA / 'downstream/voc_seg_rock/VOCdevkit/VOC2012'), '--cfg-options',
                 'train_dataloader.dataset.datasets.5.ann_file=x.txt'], 'train_dataloader.dataset.datasets.5.ann_file')


@case("train_downstream.py: VOC12aug without SBD's aug.txt")
def _(c):
    # without --smoke (which drops the parts the samples lack, with a note): the full protocol needs SBD's list
    return Case([DOWNSTREAM, VOC12AUG, str(c.mid), '--work-dir', str(c.tmp / 'ds3'),
                 '--data-root', str(DATA / 'downstream/voc_seg_rock/VOCdevkit/VOC2012')], 'aug.txt', also_say=('SBD',))


@case('train_downstream.py: a --data-root that does not exist')
def _(c):
    return Case([DOWNSTREAM, VOC12AUG, str(c.mid), '--work-dir', str(c.tmp / 'ds4'), '--smoke',
                 '--data-root', str(c.tmp / 'no_voc2012')], 'no_voc2012')


@case('train_downstream.py: config path does not exist')
def _(c):
    return Case([DOWNSTREAM, str(c.tmp / 'det_cfg.py'), str(c.mid)], 'det_cfg.py')


@case('train_downstream.py: a benchmark config under the old configs/benchmarks/ path')
def _(c):
    return Case([DOWNSTREAM, 'configs/' + VOC12AUG, str(c.mid)],
                f'the benchmark configs moved to benchmarks/: {VOC12AUG}')


@case('prepare_cifar10.py: missing archive')
def _(c):
    return Case([PREPARE, str(c.tmp / 'cifar-10-python.tar.gz'), str(c.tmp / 'c10')], 'cifar-10-python.tar.gz')


@case('prepare_cifar10.py: a text file as the archive')
def _(c):
    f = c.file('cifar_notes.tar.gz', 'not an archive')
    return Case([PREPARE, str(f), str(c.tmp / 'c10b')], 'cifar_notes.tar.gz')


@case('prepare_cifar10.py: a folder without the batch files')
def _(c):
    (c.tmp / 'cifar_empty').mkdir()
    return Case([PREPARE, str(c.tmp / 'cifar_empty'), str(c.tmp / 'c10c')], 'cifar_empty')


# ---- issue 22: the new paths (image formats, pixel limit, kNN folders, the kit, config one-liners) --------------
def image_folder(c: Ctx, name: str, per_class: int = 4) -> Path:
    """``<name>/{train,test}/{cat,dog}/``: ``per_class`` real CIFAR-10 JPEGs each."""
    root = c.tmp / name
    for split in ('train', 'test'):
        for cls in ('cat', 'dog'):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for src in sorted((c.cifar / split / cls).glob('*.jpg'))[:per_class]:
                shutil.copy(src, root / split / cls / src.name)
    return root


def knn(c: Ctx, root: Path, *options: str) -> list[str]:
    return [KNN, str(c.cfg), str(c.mid), '--data-root', str(root), '--num-workers', '0', *options]


@case('knn_eval.py on a folder of .webp/.tif/.gif images and a .txt file')
def _(c):
    from PIL import Image
    root = image_folder(c, 'formats')
    for folder in (root / s / k for s in ('train', 'test') for k in ('cat', 'dog')):
        for src, ext in zip(sorted(folder.glob('*.jpg'))[1:], ('.webp', '.tif', '.gif')):
            with Image.open(src) as img:
                img.save(src.with_suffix(ext))
            src.unlink()
        (folder / 'notes.txt').write_text('not an image')
    # all 8 images per split are read (mmpretrain's list keeps .jpg and .tif only: 4), the .txt files are counted
    return Case(knn(c, root), 'bank 8 train / 8 test images', returncode=0,
                also_say=('left out 2 files that are not images', 'e.g. cat/notes.txt'))


@case('knn_eval.py on images of different sizes without --resize/--crop')
def _(c):
    from PIL import Image
    root = image_folder(c, 'sizes')
    src = sorted((root / 'train' / 'dog').glob('*.jpg'))[0]
    with Image.open(src) as img:
        img.resize((24, 20)).save(root / 'train' / 'dog' / 'zz_small.jpg')
    return Case(knn(c, root), 'zz_small.jpg', also_say=('24x20', '--resize'))


@case('knn_eval.py on a truncated JPEG')
def _(c):
    root = image_folder(c, 'knn_cut')
    src = sorted((root / 'train' / 'cat').glob('*.jpg'))[0]
    (root / 'train' / 'cat' / 'zz_cut.jpg').write_bytes(src.read_bytes()[:len(src.read_bytes()) // 2])
    return Case(knn(c, root), 'zz_cut.jpg', also_say=('truncated',))


@case('knn_eval.py --num-per-class-train -1')
def _(c):
    return Case(knn(c, c.cifar, '--num-per-class-train', '-1'), '--num-per-class-train', returncode=2)


@case('knn_eval.py --num-per-class-train 0')
def _(c):
    return Case(knn(c, c.cifar, '--num-per-class-train', '0'), '--num-per-class-train', returncode=2,
                must_not_say=('empty',))


@case('knn_eval.py --out into a folder that does not exist')
def _(c):
    out = c.tmp / 'knn_results' / 'new' / 'knn.json'
    return Case(knn(c, c.cifar, '--num-per-class-train', '2', '--num-per-class-val', '1', '--out', str(out)), 'top1',
                returncode=0, present=[out])


@case('learning_evidence.py on a truncated JPEG', training=True)
def _(c):
    root = image_folder(c, 'evidence_cut')
    src = sorted((root / 'train' / 'cat').glob('*.jpg'))[0]
    (root / 'train' / 'cat' / 'zz_cut.jpg').write_bytes(src.read_bytes()[:len(src.read_bytes()) // 2])
    return Case([EVIDENCE, str(CPU_RECIPE), '--data-root', str(root), '--out-dir', str(c.tmp / 'evidence_out'),
                 '--work-dir', str(c.tmp / 'evidence_work'), '--threads', '1'], 'zz_cut.jpg', also_say=('truncated',))


@case('an image above the decompression-bomb pixel limit among the training data', training=True)
def _(c):
    from PIL import Image
    root = c.tmp / 'one_huge'
    (root / 'train' / 'dog').mkdir(parents=True)
    for src in sorted((c.cifar / 'train' / 'dog').glob('*.jpg'))[:15]:
        shutil.copy(src, root / 'train' / 'dog' / src.name)
    Image.new('1', (14000, 13000)).save(root / 'train' / 'dog' / 'zz_huge.png')  # 182 Mpx, 22 kB
    return Case(train(c, f'train_dataloader.dataset.data_root={root}', 'train_dataloader.dataset.indices=None',
                      'train_cfg.max_epochs=1', work='huge'), 'zz_huge.png',
                also_say=('SIMSIAM_MM_MAX_IMAGE_PIXELS=182000000', 'not corrupt'),
                must_not_say=('skipped corrupt image',))


@case('build_kit.py when OUT_DIR is a file')
def _(c):
    out = c.file('kit_is_a_file', 'precious')
    return Case([KIT, str(out), '--no-wheels'], 'kit_is_a_file')


@case("build_kit.py --force over a kit holding run_kit.sh's results", training=True)
def _(c):
    kit = c.tmp / 'kits' / 'offline_kit'
    for name in ('src', 'data', 'results', 'venv'):
        (kit / name).mkdir(parents=True)
    (kit / 'MANIFEST.json').write_text('{"python_version": "3.12"}')  # an older kit: no "entries" list
    (kit / 'run_kit.sh').write_text('echo old')
    (kit / 'src' / 'old.py').write_text('old')
    (kit / 'results' / 'kit_results.json').write_text('{"images_per_s": 1234}')
    (kit / 'results' / 'kit_summary.md').write_text('| measured on the node |')
    return Case([KIT, str(kit), '--force', '--no-wheels', '--data-root', str(DATA), '--train-per-class', '1',
                 '--test-per-class', '1', '--fullsize', '1'], 'kept what build_kit did not write: results, venv',
                returncode=0, may_change=[kit], protect=[kit / 'results'], absent=[kit / 'src' / 'old.py'])


@case('--work-dir under /proc')
def _(c):
    return Case([TRAIN, str(c.cfg), '--work-dir', '/proc/simsiam_mm_bad_input', '--cfg-options', *c.data],
                '/proc/simsiam_mm_bad_input', must_not_say=('typo',))


@case('train_dataloader.batch_size=0')
def _(c):
    return Case(train(c, 'train_dataloader.batch_size=0'), 'train_dataloader.batch_size=0', also_say=('>= 2',),
                must_not_say=('>= 1',))


@case('--cfg-options data_root with a space')
def _(c):
    root = c.tmp / 'my data'
    (root / 'train' / 'dog').mkdir(parents=True)
    for src in sorted((c.cifar / 'train' / 'dog').glob('*.jpg'))[:16]:
        shutil.copy(src, root / 'train' / 'dog' / src.name)
    return Case(train(c, f'train_dataloader.dataset.data_root={root}'), 'removes every space',
                also_say=(str(root),), must_not_say=('quotes keep',))


# ----------------------------------------------------------------------------------------------------------------
# Running them
# ----------------------------------------------------------------------------------------------------------------
def _hashes(paths: list[Path]) -> dict[Path, str]:
    files: list[Path] = []
    for p in paths:
        if p.is_file():
            files.append(p)
        elif p.is_dir() and p.name != 'configs':
            files.extend(f for f in p.rglob('*') if f.is_file())
    return {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _named_paths(argv: list[str]) -> list[Path]:
    paths = []
    for a in argv:
        for part in a.split('=', 1)[-1:]:
            p = Path(part)
            if p.is_absolute() and p.exists() and p != DATA and DATA not in p.parents and p != REPO:
                paths.append(p)
    return paths


def _run(c: Case, servers: 'queue.Queue[ToolServer] | None' = None) -> tuple[int, str, dict, dict]:
    """One case; through a tool server when one is given and the case has no launcher, else as a plain
    subprocess (``BAD_INPUTS_SUBPROCESS=1``: every case)."""
    protected = [p for p in _named_paths(c.argv) if p not in c.may_change] + c.protect
    before = _hashes(protected)
    limit = c.file_size_limit
    if servers is not None and not c.launcher:
        server = servers.get()
        try:
            reply = server.run(c.argv, limit, c.timeout)
            returncode, output = reply['returncode'], reply['output']
        finally:
            servers.put(server)
        return returncode, output, before, _hashes(list(before))

    def preexec():
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cmd = (c.launcher + c.argv) if c.launcher else [sys.executable, *c.argv]
    env = dict(ENV, PYTHON=sys.executable)
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=c.timeout, preexec_fn=preexec)
    return proc.returncode, proc.stdout, before, _hashes(list(before))


@pytest.fixture(scope='module')
def ctx(cifar10_root, tmp_path_factory) -> Ctx:
    """A tiny pretraining run (1/8-width ResNet-18-CIFAR, 16 images, batch 4, one epoch of 4 iterations) with the
    resumable hook saving at iterations 2 and 4, and its config as a file the command lines can use."""
    import simsiam_mm  # noqa: F401
    tmp = tmp_path_factory.mktemp('bad_inputs')
    cfg = tiny_pretrain_cfg(cifar10_root, tmp / 'pretrain', batch_size=4, num_images=16)
    cfg.merge_from_dict({'model': TINY_MODEL})
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    cfg.param_scheduler = [dict(type='CosineAnnealingLR', T_max=1, by_epoch=True, begin=0, end=1)]
    cfg.default_hooks.checkpoint = dict(type='ResumableCheckpointHook', interval=2, by_epoch=False)
    cfg.train_dataloader.sampler = dict(type='ResumableSampler', shuffle=True)
    pretrain(cfg)
    cfg_file = tmp / 'tiny_pretrain_cfg.py'
    cfg.dump(str(cfg_file))
    data = [f'train_dataloader.dataset.data_root={cifar10_root}', 'train_dataloader.dataset.indices=16',
            'train_dataloader.batch_size=4']
    return Ctx(tmp, cifar10_root, cfg_file, tmp / 'pretrain' / 'iter_2.pth', tmp / 'pretrain' / 'iter_4.pth', data)


def _run_all(ctx: Ctx, names: list[str]) -> dict[str, tuple[Case, int, str, dict, dict]]:
    """Run the cases, a few at a time (all at once would only queue on the shared CPUs)."""
    cases = {name: CASES[name](ctx) for name in names}
    workers = 3
    servers = None
    if not os.environ.get('BAD_INPUTS_SUBPROCESS') and any(not c.launcher for c in cases.values()):
        servers = queue.Queue()
        for _ in range(min(workers, len(cases))):
            servers.put(ToolServer(dict(ENV, PYTHON=sys.executable)))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {name: pool.submit(_run, c, servers) for name, c in cases.items()}
            results = {name: (cases[name], *f.result()) for name, f in futures.items()}
    finally:
        while servers is not None and not servers.empty():
            servers.get().close()
    if os.environ.get('BAD_INPUTS_SUMMARY'):  # one JSON line per case, for the table in docs/reliability.md
        with open(os.environ['BAD_INPUTS_SUMMARY'], 'a') as f:
            for name, (c, returncode, output, before, after) in results.items():
                f.write(json.dumps(dict(name=name, verdict=verdict(c, returncode, output, before == after),
                                        returncode=returncode, last=_last_line(output)[:300])) + '\n')
    return results


def _last_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ''


def verdict(c: Case, returncode: int, output: str, unchanged: bool) -> str:
    """'clear' (the designed outcome with the culprit named), 'traceback', or 'silent' (exit 0 where a refusal
    was due, a good file changed) / 'unclear' (refused without naming the culprit)."""
    if 'Traceback' in output:
        return 'traceback'
    if returncode != c.returncode or not unchanged:
        return 'silent' if returncode == 0 or not unchanged else 'unclear'
    shown = _last_line(output) if c.returncode else output
    said = all(t in output for t in c.also_say) and not any(t in output for t in c.must_not_say)
    return 'clear' if c.culprit in shown and said else 'unclear'


def _selected(request) -> set[str]:
    """The case names pytest selected (``-k`` runs only those)."""
    return {item.callspec.params['name'] for item in request.session.items
            if hasattr(item, 'callspec') and 'name' in item.callspec.params}


@pytest.fixture(scope='module')
def precheck_results(ctx, request) -> dict:
    """The cases refused in the pre-checks (no training step): each a tool start-up of a few CPU seconds."""
    return _run_all(ctx, [n for n in CASES if n not in TRAINING and n in _selected(request)])


@pytest.fixture(scope='module')
def training_results(ctx, request) -> dict:
    """The cases that need a training start or several processes (a few iterations of the tiny model)."""
    return _run_all(ctx, [n for n in CASES if n in TRAINING and n in _selected(request)])


def test_at_least_40_distinct_bad_inputs():
    assert len(CASES) >= 40 and len(set(CASES)) == len(CASES)


@pytest.mark.slow  # ~50 tool start-ups (mmpretrain's import alone is ~5 CPU s each)
@pytest.mark.parametrize('name', list(CASES))
def test_bad_input_ends_in_one_clear_line(name, request):
    """The designed exit status, no traceback, the culprit in the last line, no good file changed."""
    results = request.getfixturevalue('training_results' if name in TRAINING else 'precheck_results')
    c, returncode, output, before, after = results[name]
    tail = output[-3000:]
    assert returncode == c.returncode, tail
    assert 'Traceback' not in output, tail
    lines = [line for line in output.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ''
    if c.returncode:
        assert ': error: ' in last or last.startswith('error: '), tail
        assert c.culprit in last, (c.culprit, last)
    else:
        assert c.culprit in output, tail
    for text in c.also_say:
        assert text in output, (text, tail)
    for text in c.must_not_say:
        assert text not in output, (text, tail)
    assert before == after, 'a good file changed'
    for path in c.absent:
        assert not path.exists(), f'{path} exists'
    for path in c.present:
        assert path.exists(), f'{path} does not exist'


# ----------------------------------------------------------------------------------------------------------------
# The boundary itself (in-process, milliseconds)
# ----------------------------------------------------------------------------------------------------------------
def test_boundary_one_line_exit_1_traceback_only_with_debug(capsys, monkeypatch):
    import errno

    from simsiam_mm.errors import ConfigError, cli_main

    @cli_main
    def main(argv=None):
        raise ConfigError('train_dataloader.batch_size=\'abc\' is not an integer — give a whole number.')

    with pytest.raises(SystemExit) as e:
        main(['x'])
    err = capsys.readouterr().err
    assert e.value.code == 1 and 'Traceback' not in err
    assert err.strip().endswith("error: train_dataloader.batch_size='abc' is not an integer — give a whole number.")
    with pytest.raises(SystemExit):
        main(['x', '--debug'])
    err = capsys.readouterr().err
    assert 'Traceback' in err and err.strip().splitlines()[-1].endswith('give a whole number.')  # line stays last

    @cli_main
    def bug(argv=None):
        raise KeyError('a bug keeps its traceback')

    with pytest.raises(KeyError):
        bug([])

    @cli_main
    def readonly(argv=None):
        raise OSError(errno.EROFS, 'Read-only file system', '/mnt/ro/run')

    with pytest.raises(SystemExit):
        readonly([])
    assert '/mnt/ro/run: is on a read-only file system — choose a writable location' in capsys.readouterr().err


def test_torchrun_rank_line_is_left_for_the_wrapper(tmp_path, monkeypatch, capsys):
    from simsiam_mm.errors import ERROR_DIR_ENV, report_failure
    monkeypatch.setenv(ERROR_DIR_ENV, str(tmp_path))
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('WORLD_SIZE', '2')
    report_failure('x.pth: does not exist — check the path.', 'train.py')
    line = '[rank 1] train.py: error: x.pth: does not exist — check the path.'
    assert (tmp_path / 'rank1.txt').read_text().strip() == line
    assert capsys.readouterr().err.strip() == line


# ----------------------------------------------------------------------------------------------------------------
# Every tool inside the boundary; what git ignores (static, milliseconds)
# ----------------------------------------------------------------------------------------------------------------
def _runs_inside_cli_main(source: str) -> bool:
    """A script's ``if __name__ == '__main__':`` block calls ``cli_main(...)`` (or ``main`` is decorated with it),
    and ``cli_main`` is imported from ``simsiam_mm.errors``."""
    import ast
    tree = ast.parse(source)
    imported = any(isinstance(n, ast.ImportFrom) and n.module == 'simsiam_mm.errors'
                   and any(a.name == 'cli_main' for a in n.names) for n in ast.walk(tree))
    blocks = [n for n in tree.body if isinstance(n, ast.If) and '__main__' in ast.unparse(n.test)]
    called = any(isinstance(x, ast.Call) and ast.unparse(x.func) == 'cli_main' for b in blocks for x in ast.walk(b))
    decorated = any(isinstance(n, ast.FunctionDef) and n.name == 'main'
                    and any(ast.unparse(d) == 'cli_main' for d in n.decorator_list) for n in tree.body)
    return imported and (called or decorated)


def test_every_tool_runs_inside_the_error_boundary():
    """Every script under tools/ with a ``__main__`` block runs its ``main`` inside ``simsiam_mm.errors.cli_main``."""
    scripts = [p for p in sorted((REPO / 'tools').rglob('*.py')) if "__name__ == '__main__'" in p.read_text()]
    assert len(scripts) >= 20
    missing = [str(p.relative_to(REPO)) for p in scripts if not _runs_inside_cli_main(p.read_text())]
    assert not missing, f'not inside cli_main: {missing}'
    assert not _runs_inside_cli_main("def main():\n    pass\n\nif __name__ == '__main__':\n    main()\n")


@pytest.mark.parametrize('path', ['.venv', '.venv-lite', 'work_dirs/x.pth'])
def test_gitignore_matches_links_as_well_as_folders(path):
    """``.venv/`` would match a folder only: a ``.venv`` symlink to a shared environment showed up as untracked."""
    if not (REPO / '.git').exists():
        pytest.skip('not a git checkout')
    proc = subprocess.run(['git', 'check-ignore', '-q', '--no-index', path], cwd=REPO)
    assert proc.returncode == 0, f'{path} is not ignored'
