"""Registries of simsiam_mm: children of mmpretrain's, in their own scope.

A config with ``default_scope='simsiam_mm'`` (or ``_scope_='simsiam_mm'``) finds our classes first and falls back to
mmpretrain's and mmengine's, so ``type='ResNet'`` still builds mmpretrain's ResNet while ``type='SimSiam'`` builds ours
without clashing with ``mmpretrain.SimSiam``. ``locations`` lets a registry import the module that defines a class the
first time it is asked for it.
"""
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

SCOPE = 'simsiam_mm'

MODELS = Registry('model', parent=mmpretrain_registry.MODELS, scope=SCOPE,
                  locations=['simsiam_mm.models', 'simsiam_mm.evaluation'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=mmpretrain_registry.MODEL_WRAPPERS, scope=SCOPE, locations=['simsiam_mm.engine'])
HOOKS = Registry('hook', parent=mmpretrain_registry.HOOKS, scope=SCOPE, locations=['simsiam_mm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS, scope=SCOPE,
    locations=['simsiam_mm.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=mmpretrain_registry.OPTIM_WRAPPERS, scope=SCOPE, locations=['simsiam_mm.engine'])
OPTIMIZERS = Registry('optimizer', parent=mmpretrain_registry.OPTIMIZERS, scope=SCOPE, locations=['simsiam_mm.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=mmpretrain_registry.PARAM_SCHEDULERS, scope=SCOPE, locations=['simsiam_mm.engine'])
LOOPS = Registry('loop', parent=mmpretrain_registry.LOOPS, scope=SCOPE, locations=['simsiam_mm.engine'])
RUNNERS = Registry('runner', parent=mmpretrain_registry.RUNNERS, scope=SCOPE, locations=['simsiam_mm.engine'])
LOG_PROCESSORS = Registry(
    'log_processor', parent=mmpretrain_registry.LOG_PROCESSORS, scope=SCOPE, locations=['simsiam_mm.engine'])
DATASETS = Registry('dataset', parent=mmpretrain_registry.DATASETS, scope=SCOPE, locations=['simsiam_mm.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=mmpretrain_registry.DATA_SAMPLERS, scope=SCOPE, locations=['simsiam_mm.datasets'])
TRANSFORMS = Registry(
    'transform', parent=mmpretrain_registry.TRANSFORMS, scope=SCOPE, locations=['simsiam_mm.datasets'])
METRICS = Registry('metric', parent=mmpretrain_registry.METRICS, scope=SCOPE, locations=['simsiam_mm.evaluation'])
EVALUATORS = Registry(
    'evaluator', parent=mmpretrain_registry.EVALUATORS, scope=SCOPE, locations=['simsiam_mm.evaluation'])
VISUALIZERS = Registry(
    'visualizer', parent=mmpretrain_registry.VISUALIZERS, scope=SCOPE, locations=['simsiam_mm.evaluation'])
VISBACKENDS = Registry(
    'vis_backend', parent=mmpretrain_registry.VISBACKENDS, scope=SCOPE, locations=['simsiam_mm.evaluation'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=mmpretrain_registry.WEIGHT_INITIALIZERS, scope=SCOPE, locations=['simsiam_mm.models'])
