"""The light install (``tools/install.sh --lite``: mmcv-lite, no mmdet/mmsegmentation) covers everything but the
downstream benchmarks: nothing outside ``simsiam_mm/apis/downstream.py`` and ``tools/benchmarks`` imports
``mmcv.ops``, mmdet or mmseg, statically or at run time. Tests that need the full stack carry
``@pytest.mark.full_stack``."""
import ast
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOWNSTREAM = [REPO / 'simsiam_mm/apis/downstream.py', REPO / 'tools/benchmarks']
FULL_STACK_ONLY = ('mmcv.ops', 'mmcv._ext', 'mmdet', 'mmseg')


def _is_full_stack(module: str) -> bool:
    return any(module == m or module.startswith(m + '.') for m in FULL_STACK_ONLY)


def light_python_files() -> list[Path]:
    """The package and the tools, less the downstream parts."""
    files = [*(REPO / 'simsiam_mm').rglob('*.py'), *(REPO / 'tools').rglob('*.py')]
    return sorted(f for f in files if not any(f == d or d in f.parents for d in DOWNSTREAM))


def full_stack_imports(path: Path) -> list[str]:
    """``file:line module`` for each import statement in ``path`` that names a full-stack-only module."""
    found, label = [], path.relative_to(REPO) if REPO in path.parents else path
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] if _is_full_stack(node.module) else [f'{node.module}.{a.name}' for a in node.names]
        else:
            continue
        found += [f'{label}:{node.lineno} {n}' for n in names if _is_full_stack(n)]
    return found


def test_no_full_stack_import_statement_outside_the_downstream_parts() -> None:
    files = light_python_files()
    assert len(files) > 30 and REPO / 'tools/train.py' in files
    assert REPO / 'simsiam_mm/apis/downstream.py' not in files
    offending = [hit for f in files for hit in full_stack_imports(f)]
    assert not offending, ('full-stack imports outside simsiam_mm/apis/downstream.py and tools/benchmarks:\n'
                           + '\n'.join(offending))


def test_the_static_check_sees_a_full_stack_import(tmp_path: Path) -> None:
    """The checker itself: it flags each spelling, and nothing else."""
    path = tmp_path / 'probe.py'
    path.write_text('import mmdet.models\nfrom mmcv.ops import nms\nfrom mmcv import ops\n'
                    'from mmseg.registry import X\nimport mmcv\nfrom mmcv.cnn import ConvModule\n'
                    'from .mmdet import y\n')
    assert [h.split(' ', 1)[1] for h in full_stack_imports(path)] == ['mmdet.models', 'mmcv.ops', 'mmcv.ops',
                                                                       'mmseg.registry']


# Run in a fresh interpreter: mmcv.ops, mmcv._ext, mmdet and mmseg cannot be imported (as in the light install,
# even where the full stack is installed); every other attempt to import them is recorded with its importer.
BLOCKED_RUN = r'''
import importlib.abc, importlib.util, json, pkgutil, sys
from pathlib import Path
REPO, BLOCKED = Path(sys.argv[1]), ('mmcv.ops', 'mmcv._ext', 'mmdet', 'mmseg')
attempts = []

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if not any(name == b or name.startswith(b + '.') for b in BLOCKED):
            return None
        frame = sys._getframe(1)
        while frame and frame.f_globals.get('__name__', '').startswith(('importlib', '_frozen_importlib')) \
                or frame and frame.f_globals.get('__name__') == __name__ and frame.f_code.co_name == 'find_spec':
            frame = frame.f_back
        attempts.append([name, frame.f_globals.get('__name__', '?') if frame else '?'])
        raise ModuleNotFoundError(f'No module named {name!r} (blocked: the light install has no {name})', name=name)

sys.meta_path.insert(0, Blocker())
import simsiam_mm
modules = [m.name for m in pkgutil.walk_packages(simsiam_mm.__path__, 'simsiam_mm.')
           if m.name != 'simsiam_mm.apis.downstream']
for name in modules:
    __import__(name)
tools = [p for p in sorted((REPO / 'tools').rglob('*.py')) if 'benchmarks' not in p.relative_to(REPO).parts]
for i, path in enumerate(tools):
    spec = importlib.util.spec_from_file_location(f'_tool_{i}_{path.stem}', path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))

# one real SimSiam step of the CIFAR quick config's model (random images): pretraining runs without the full stack
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.optim import build_optim_wrapper
from simsiam_mm.registry import MODELS
cfg = Config.fromfile(str(REPO / 'configs/simsiam/simsiam_resnet18-cifar_1xb32-coslr-1e-2k_cifar10-quick.py'))
with DefaultScope.overwrite_default_scope('simsiam_mm'):
    model = MODELS.build(cfg.model)
    batch = dict(inputs=[torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8) for _ in range(2)],
                 data_samples=None)
    log = model.train_step(batch, build_optim_wrapper(model, cfg.optim_wrapper))
loaded = sorted(m for m in sys.modules if any(m == b or m.startswith(b + '.') for b in BLOCKED))
print(json.dumps(dict(modules=len(modules), tools=len(tools), attempts=attempts, loaded=loaded,
                      loss=float(log['loss']))))
'''


@pytest.mark.slow  # ~8 s of CPU: imports every module and tool in a fresh interpreter
def test_package_and_cpu_tools_run_without_the_full_stack() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, '-c', BLOCKED_RUN, str(REPO)], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['modules'] > 20 and result['tools'] > 10
    assert result['loaded'] == []
    # upstream's optional probes are theirs (mmcv.cnn.bricks.transformer tries mmcv.ops' MultiScaleDeformableAttention,
    # mmpretrain's res_layer_extra_norm tries mmdet and goes on without it); none may come from our code
    ours = [a for a in result['attempts'] if a[1].startswith(('simsiam_mm', '_tool_', '__main__', '?'))]
    assert not ours, f'simsiam_mm or a CPU tool imports the full stack: {ours}'
    assert all(importer.startswith(('mmcv.', 'mmpretrain.')) for _, importer in result['attempts']), result
    assert math.isfinite(result['loss']) and -1.0 <= result['loss'] <= 1.0  # a negative cosine similarity
