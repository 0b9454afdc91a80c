"""setup.py: one version source (simsiam_mm/version.py), and requirements that say what the package imports."""
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DISTRIBUTION = {'cv2': 'opencv-python', 'PIL': 'Pillow', 'yaml': 'PyYAML', 'sklearn': 'scikit-learn',
                'mmseg': 'mmsegmentation'}
CAPTURE = r'''
import json, runpy, setuptools
captured = {}
setuptools.setup = lambda **kw: captured.update(kw)
runpy.run_path('setup.py', run_name='__main__')
print(json.dumps(dict(version=captured['version'], install_requires=captured['install_requires'],
                      extras_require=captured['extras_require'])))
'''


def setup_kwargs() -> dict:
    """What setup.py passes to setup(), captured in a fresh interpreter (nothing is built or installed)."""
    proc = subprocess.run([sys.executable, '-c', CAPTURE], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def third_party_imports(folder: Path, skip: Path) -> set[str]:
    """Top-level names of the absolute imports in ``folder``'s modules (outside ``skip``), less stdlib and ours."""
    names = set()
    for path in folder.rglob('*.py'):
        if path == skip or skip in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split('.')[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split('.')[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != 'simsiam_mm'}


def _dist_names(requirements: list[str]) -> set[str]:
    return {re.split(r'[<>=!\[; ]', r, maxsplit=1)[0].lower() for r in requirements}


def test_version_has_one_source() -> None:
    kwargs = setup_kwargs()
    text = (REPO / 'simsiam_mm/version.py').read_text()
    assert kwargs['version'] == re.search(r"__version__ = '([^']+)'", text).group(1)
    assert '__version__ =' not in (REPO / 'simsiam_mm/__init__.py').read_text()  # imported from version.py


def test_requirements_cover_what_the_package_imports() -> None:
    kwargs = setup_kwargs()
    core, extras = _dist_names(kwargs['install_requires']), kwargs['extras_require']
    light = third_party_imports(REPO / 'simsiam_mm', skip=REPO / 'simsiam_mm/apis/downstream.py')
    assert {'torch', 'mmengine', 'mmpretrain', 'mmcv', 'numpy'} <= light
    for name in light - {'mmcv'}:  # mmcv comes in two flavours: [lite] or [full]
        assert DISTRIBUTION.get(name, name).lower() in core, f'simsiam_mm imports {name}: not in install_requires'
    assert 'mmcv-lite' in _dist_names(extras['lite']) and 'mmcv' in _dist_names(extras['full'])
    assert {'mmdet', 'mmsegmentation'} <= _dist_names(extras['full']) and extras['downstream'] == extras['full']
    assert not {'mmdet', 'mmsegmentation', 'mmcv', 'mmcv-lite'} & core  # the light install must not pull them
    assert {'pytest', 'pytest-timeout'} <= _dist_names(extras['tests'])


# the floors of the package (README "Layout"): a module may import its own floor and the floors below
FLOORS = {'registry': 0, 'errors': 0, 'checkpoint': 0, 'version': 0, 'quiet': 0, 'machine': 0, 'results': 0,
          'plots': 0, 'paper': 0,
          'models': 1, 'datasets': 1, 'engine': 1, 'evaluation': 1, 'zoo': 1, 'apis': 2}


def _imported_rooms(path: Path) -> list[tuple[int, str]]:
    """(line, room) for each ``simsiam_mm.<room>`` a module under simsiam_mm/ imports (relative imports included)."""
    parts = path.relative_to(REPO).with_suffix('').parts  # ('simsiam_mm', 'engine', 'runner')
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(parts[:len(parts) - node.level]) + (node.module.split('.') if node.module else [])
            names = ['.'.join(base + [a.name]) if len(base) == 1 else '.'.join(base) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f'{node.module}.{a.name}' if node.module == 'simsiam_mm' else node.module for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [(node.lineno, n.split('.')[1]) for n in names if n.startswith('simsiam_mm.') and '.' in n]
    return found


def test_layers_point_one_way() -> None:
    """No module imports a room on a higher floor (``apis`` included: it is the only room on its floor); ``zoo``,
    ``datasets`` and ``models`` never import the package root (which pulls in everything)."""
    wrong = []
    for path in sorted((REPO / 'simsiam_mm').rglob('*.py')):
        rel = path.relative_to(REPO / 'simsiam_mm').with_suffix('').parts
        if rel == ('__init__',):
            continue  # the package root imports every room to register them
        own = FLOORS[rel[0]]
        for line, room in _imported_rooms(path):
            if room in FLOORS and FLOORS[room] > own:
                wrong.append(f'{path.relative_to(REPO)}:{line} imports simsiam_mm.{room}')
        if rel[0] in ('zoo', 'datasets', 'models'):
            text = path.read_text()
            if re.search(r'^import simsiam_mm$|^from simsiam_mm import', text, flags=re.M):
                wrong.append(f'{path.relative_to(REPO)}: imports the package root')
    assert not wrong, '\n'.join(wrong)


def test_evaluation_tools_read_configs_without_the_engine() -> None:
    """simsiam_mm/evaluation and tools/analysis load configs through simsiam_mm.apis, not simsiam_mm.engine."""
    files = [*(REPO / 'simsiam_mm/evaluation').rglob('*.py'), *(REPO / 'tools/analysis').rglob('*.py')]
    hits = [f'{f.relative_to(REPO)}: {m.group(0)}' for f in files
            for m in re.finditer(r'from simsiam_mm\.engine\S* import [^\n]*(load_config|merge_options|check_\w+)',
                                 f.read_text())]
    assert not hits, '\n'.join(hits)
