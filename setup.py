"""simsiam_mm: SimSiam as an OpenMMLab plugin.

What each part imports, as extras (the pins and the reason for each are in ``requirements/``):

    pip install -e .[lite]        pretraining, kNN/linear/SVM evaluation, converters, publishing: no compiled ops
                                  (mmcv-lite; install mmpretrain with --no-deps, see tools/install.sh --lite)
    pip install -e .[full]        + mmdet / mmsegmentation downstream benchmarks (mmcv 2.1.0 built with its ops)
    pip install -e .[tests]       pytest, pytest-timeout, pytest-xdist and ruff

``tools/install.sh`` (full, the default) and ``tools/install.sh --lite`` do the whole install, pins included.
"""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def read_version() -> str:
    """``__version__`` from simsiam_mm/version.py, read as text (importing the package would need its deps)."""
    scope: dict = {}
    exec((HERE / 'simsiam_mm' / 'version.py').read_text(), scope)
    return scope['__version__']


# What `import simsiam_mm` and the CPU tools import, whichever mmcv flavour is installed.
CORE = [
    'torch>=2.0', 'torchvision', 'numpy<2', 'opencv-python<4.12', 'Pillow', 'PyYAML',
    'mmengine==0.10.7', 'mmpretrain==1.2.0', 'scikit-learn', 'matplotlib',
]
EXTRAS = {
    'lite': ['mmcv-lite==2.1.0'],
    'full': ['mmcv==2.1.0', 'mmdet==3.3.0', 'mmsegmentation==1.2.2', 'ftfy', 'regex'],
    'tests': ['pytest', 'pytest-timeout', 'pytest-xdist', 'ruff'],
}
EXTRAS['downstream'] = EXTRAS['full']

setup(
    name='simsiam_mm',
    version=read_version(),
    description='SimSiam as an OpenMMLab (mmengine/mmpretrain) plugin',
    python_requires='>=3.8',
    packages=find_packages(include=['simsiam_mm', 'simsiam_mm.*']),
    install_requires=CORE,
    extras_require=EXTRAS,
)
