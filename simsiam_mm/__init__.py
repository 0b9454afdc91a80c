"""simsiam_mm: SimSiam as an OpenMMLab (mmengine/mmpretrain) plugin.

Importing the package registers every class in the ``simsiam_mm`` registry scope; configs do it with
``custom_imports=dict(imports=['simsiam_mm'], allow_failed_imports=False)``.
"""
from .quiet import install_warning_filters  # noqa: E402
from .version import __version__  # noqa: E402,F401  (the one version source)

install_warning_filters()  # before mmpretrain's imports and any config read

import mmpretrain.datasets  # noqa: F401,E402  (registers mmpretrain's transforms and datasets)
import mmpretrain.engine  # noqa: F401,E402  (hooks, optimizers such as LARS)
import mmpretrain.evaluation  # noqa: F401,E402
import mmpretrain.models  # noqa: F401,E402

from . import datasets, engine, evaluation, models  # noqa: F401,E402
from .checkpoint import allow_mmengine_checkpoints  # noqa: E402

allow_mmengine_checkpoints()
