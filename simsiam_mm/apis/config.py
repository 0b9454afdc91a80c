"""Load and check a config before anything is built: every error names the file or key at fault and the nearest
valid names.

Without this, a typo such as ``model.backbone.dpeth=18`` surfaces as ``TypeError: ResNet.__init__() got an
unexpected keyword argument 'dpeth'`` from deep inside mmengine's registry, ``type='ResNett'`` as a ``KeyError``
without suggestions, and a misspelt top-level key such as ``train_dataloder`` is silently ignored. ``tools/train.py``
runs :func:`check_config`, and, once the number of processes is known, :func:`split_global_batch` (the one step here
that changes the config, called on its own line) and :func:`check_batch_size`. The other checks only read.
"""
import difflib
import inspect
import math
import os
import os.path as osp
import re
import sys
import tempfile
from typing import Any

import torch.distributed as dist
from mmengine.config import Config
from mmengine.registry import Registry, init_default_scope
from mmengine.runner import Runner

from simsiam_mm import registry as R
from simsiam_mm.errors import ConfigError, WorkDirError

# Keys the Runner (Runner.__init__, Runner.from_cfg, env/model wrapping) or our tools read at the top level.
RUNNER_KEYS = set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'} | {
    'model_wrapper_cfg', 'compile', 'activation_checkpointing', 'efficient_conv_bn_eval', 'custom_imports',
    'global_batch_size', 'filename'}
# Sub-configs handed to builders other than Registry.build with the class's own signature: only their type is checked.
TYPE_ONLY_KEYS = {'norm_cfg', 'act_cfg', 'conv_cfg', 'plugins', 'dcn'}
DATALOADER_KEYS = {'dataset', 'sampler', 'batch_sampler', 'collate_fn', 'worker_init_fn', 'batch_size', 'shuffle',
                   'num_workers', 'pin_memory', 'drop_last', 'timeout', 'prefetch_factor', 'persistent_workers',
                   'pin_memory_device', 'generator', 'multiprocessing_context', 'in_order'}


def nearest(name: str, choices, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The valid names closest to ``name`` (difflib ratio), best first."""
    return difflib.get_close_matches(name, sorted(set(choices)), n=n, cutoff=cutoff)


def _hint(name: str, choices) -> str:
    close = nearest(name, choices)
    return f'nearest valid names: {", ".join(close)}' if close else 'no similar name exists'


def _registry_names(registry: Registry) -> set[str]:
    """Names reachable from ``registry`` without a scope prefix: its own, its parents' and its children's."""
    names, reg = set(registry.module_dict), registry
    while reg.parent is not None:
        reg = reg.parent
        names |= set(reg.module_dict)
    for child in registry.children.values():
        names |= set(child.module_dict)
    return names


def accepted_kwargs(obj: Any) -> set[str] | None:
    """The keyword arguments ``obj`` (a class or function) accepts, following ``**kwargs`` up the MRO; ``None``
    where ``**kwargs`` is accepted and cannot be traced."""
    if not inspect.isclass(obj):
        params = inspect.signature(obj).parameters.values()
        if any(p.kind == p.VAR_KEYWORD for p in params):
            return None
        return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    names: set[str] = set()
    for klass in obj.__mro__:
        if klass is object:
            return None
        if '__init__' not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names - {'self'}
    return None


def _check_typed(cfg: dict, path: str, registry: Registry, signature: bool = True) -> Any:
    """Check ``cfg['type']`` is registered (and, with ``signature``, that every key is an argument); return the
    class."""
    obj_type = cfg.get('type')
    if not isinstance(obj_type, str):
        return obj_type  # a class given directly, or no type (a builder's default)
    if '_scope_' in cfg and '.' not in obj_type:  # as Registry.build: look up in that scope's registry
        with registry.switch_scope_and_registry(cfg['_scope_']) as scoped:
            obj, registry = scoped.get(obj_type), scoped
    else:
        obj = registry.get(obj_type)
    if obj is None:
        hint = _hint(obj_type, _registry_names(registry))
        elsewhere = [c.scope for c in registry.children.values() if obj_type in c.module_dict]
        if elsewhere:  # typically a dict that inherited _scope_='mmpretrain' from an `mmpretrain::` base
            hint = (f"it is registered in scope {elsewhere[0]!r}, which {path}._scope_={cfg.get('_scope_')!r} "
                    f"hides (inherited from an upstream base config?): set _scope_={elsewhere[0]!r}")
        raise ConfigError(f'{path}.type={obj_type!r} is not a registered {registry.name} type (scope '
                          f'{registry.scope!r} and its parents); {hint}.')
    if signature:
        accepted = accepted_kwargs(obj)
        if accepted is not None:
            for k in cfg:
                if k == 'type' or k.startswith('_') or k in accepted:
                    continue
                if k == 'convert_to_iter_based' and registry.name == 'parameter scheduler':  # mmengine's build option
                    continue
                if k == 'priority' and registry.name == 'hook':  # Runner.register_hook takes it off the config
                    continue
                raise ConfigError(f'{path}.{k}: unknown key for {obj.__name__} ({registry.name} type '
                                  f'{obj_type!r}); {_hint(k, accepted)}.')
    return obj


#: The one table that drives the walk: a key -> the registry that builds the typed dicts under it, at the top level of
#: the config (TOP) or at any depth (NESTED). Children of a key not in the table are built by the same registry inside
#: the model and a pipeline (nested modules, wrapper transforms such as MultiView/RandomApply) and under
#: ``default_hooks`` (one hook per name), and by none elsewhere (plain options such as ``data_prefix``, a hook's own
#: arguments), where the walk goes on only to find nested table keys.
TOP_REGISTRY: dict[str, Registry] = {
    'model': R.MODELS, 'train_cfg': R.LOOPS, 'val_cfg': R.LOOPS, 'test_cfg': R.LOOPS,
    'custom_hooks': R.HOOKS, 'default_hooks': R.HOOKS, 'param_scheduler': R.PARAM_SCHEDULERS,
    'val_evaluator': R.METRICS, 'test_evaluator': R.METRICS,
}
NESTED_REGISTRY: dict[str, Registry] = {
    'init_cfg': R.WEIGHT_INITIALIZERS, 'dataset': R.DATASETS, 'datasets': R.DATASETS, 'sampler': R.DATA_SAMPLERS,
    'pipeline': R.TRANSFORMS, 'transforms': R.TRANSFORMS,
}
INHERITED = (R.MODELS, R.TRANSFORMS)  # registries whose untabled descendants are built by them too
CONTAINERS = {'default_hooks'}  # a dict of name -> hook: its values (only) are built by the key's registry


def _walk(node: Any, path: str, registry: Registry | None, signature: bool = True) -> None:
    """Check every typed dict under ``node`` against the registry the key table assigns it."""
    if isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            _walk(v, f'{path}[{i}]', registry, signature)
        return
    if not isinstance(node, dict):
        return
    if registry is not None and 'type' in node:
        _check_typed(node, path, registry, signature)
    for key, value in node.items():
        if not isinstance(value, (dict, list, tuple)) or key == 'type':
            continue
        if key in NESTED_REGISTRY:
            child = NESTED_REGISTRY[key]
        elif registry in INHERITED or path in CONTAINERS:
            child = registry
        else:
            child = None
        _walk(value, f'{path}.{key}', child, signature=key not in TYPE_ONLY_KEYS)


def check_config(cfg: Config) -> None:
    """Raise :class:`ConfigError` for a misspelt top-level key, an unregistered ``type`` anywhere in the model, data,
    hooks, schedulers, loops and optimizer, a key that the built class does not accept, or a missing data folder.

    One walk over the config (:func:`_walk`), driven by :data:`TOP_REGISTRY` and :data:`NESTED_REGISTRY`; the
    dataloaders' own keys and the optim wrapper (a default type, a string ``constructor``) are checked beside it.

    Examples:
        >>> cfg = Config.fromfile('configs/simsiam/simsiam_resnet18-cifar_1xb32-coslr-1e-2k_cifar10-quick.py')
        >>> cfg.model.backbone.dpeth = 18
        >>> check_config(cfg)  # doctest: +SKIP
        ConfigError: model.backbone.dpeth: unknown key for ResNet_CIFAR (model type 'ResNet_CIFAR'); nearest valid
        names: depth, deep_stem.
    """
    init_default_scope(cfg.get('default_scope') or R.SCOPE)
    for key in cfg.keys():
        if key not in RUNNER_KEYS and nearest(key, RUNNER_KEYS, n=1, cutoff=0.8):
            raise ConfigError(f'Unknown top-level config key {key!r} (the Runner would silently ignore it); '
                              f'{_hint(key, RUNNER_KEYS)}.')
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if isinstance(loader, dict):
            for k in loader:
                if k not in DATALOADER_KEYS:
                    raise ConfigError(f'{name}.{k}: unknown dataloader key; {_hint(k, DATALOADER_KEYS)}.')
    optim = cfg.get('optim_wrapper')
    if isinstance(optim, dict):
        if isinstance(optim.get('constructor'), str):
            _check_typed(dict(type=optim.constructor), 'optim_wrapper.constructor', R.OPTIM_WRAPPER_CONSTRUCTORS)
        wrapper = {k: v for k, v in optim.items() if k not in ('optimizer', 'constructor', 'paramwise_cfg')}
        _check_typed(dict(wrapper, type=optim.get('type', 'OptimWrapper')), 'optim_wrapper', R.OPTIM_WRAPPERS)
    for key in cfg.keys():
        value = cfg.get(key)
        if key == 'optim_wrapper' and isinstance(value, dict):  # its own dict is checked above, with a default type
            _walk(value.get('optimizer'), 'optim_wrapper.optimizer', R.OPTIMIZERS)
        elif isinstance(value, (dict, list, tuple)):
            _walk(value, key, TOP_REGISTRY.get(key))
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if isinstance(cfg.get(name), dict):
            check_data_paths(cfg[name].get('dataset'), f'{name}.dataset')


def check_data_paths(dataset: Any, path: str, ann_files: bool = False) -> None:
    """A dataset's ``data_root`` (and image folder, for folder datasets) must exist, and no class folder or the
    whole dataset may be empty; with ``ann_files``, its ``ann_file`` must exist too."""
    if not isinstance(dataset, dict):
        return
    if 'dataset' in dataset:  # a wrapper
        check_data_paths(dataset['dataset'], f'{path}.dataset', ann_files)
        return
    if isinstance(dataset.get('datasets'), (list, tuple)):  # ConcatDataset
        for i, sub in enumerate(dataset['datasets']):
            check_data_paths(sub, f'{path}.datasets[{i}]', ann_files)
        return
    root = dataset.get('data_root')
    if not root or '://' in str(root):
        return
    if osp.exists(root) and not osp.isdir(root):
        raise ConfigError(f'{path}.data_root={root!r} is a file, not a folder (absolute: {osp.abspath(root)}) — '
                          f'point it at the dataset folder: --cfg-options {path}.data_root=/path/to/data.')
    if not osp.isdir(root):
        raise ConfigError(f'{path}.data_root={root!r} does not exist (absolute: {osp.abspath(root)}) — point it at '
                          f'the dataset folder: --cfg-options {path}.data_root=/path/to/data.')
    if ann_files:
        check_ann_file(dataset, path)
    prefix = dataset.get('data_prefix', '')
    prefix = prefix.get('img_path', '') if isinstance(prefix, dict) else prefix
    if dataset.get('ann_file') or not prefix:
        return
    folder = osp.join(root, prefix)
    if not osp.isdir(folder):
        raise ConfigError(f'{path}.data_prefix={prefix!r}: folder {folder} does not exist under data_root.')
    classes = sorted(e for e in _listdir(folder) if osp.isdir(osp.join(folder, e)))
    if not classes and not _listdir(folder):
        raise ConfigError(f'{path}: the dataset folder {folder} is empty (no class folders, no images).')
    empty = [c for c in classes if not _listdir(osp.join(folder, c))]
    if empty:
        raise ConfigError(f'{path}: {len(empty)} class folder(s) under {folder} hold no images: '
                          f'{", ".join(empty[:5])}{" ..." if len(empty) > 5 else ""}. Remove them or finish '
                          'copying the data (an empty class would shift every label after it).')


ANN_FILE_HINTS = {'aug.txt': ' (VOC12aug: made from SBD by mmsegmentation\'s '
                               'tools/dataset_converters/voc_aug.py, with SegmentationClassAug)'}


def check_ann_file(dataset: dict, path: str) -> None:
    """A dataset's ``ann_file`` (relative to ``data_root``) must exist: named up front, not 30 lines above a
    launcher's failure summary."""
    ann = dataset.get('ann_file')
    if not ann or '://' in str(ann):
        return
    full = ann if osp.isabs(ann) else osp.join(dataset.get('data_root') or '', ann)
    if not osp.isfile(full):
        hint = ANN_FILE_HINTS.get(osp.basename(ann), '')
        raise ConfigError(f'{path}.ann_file={ann!r}: {full} does not exist{hint} — create it, or point data_root / '
                          'ann_file at the dataset that has it.')


def check_dataloader_paths(cfg: Config) -> None:
    """:func:`check_data_paths`, annotation files included, for the train, val and test dataloaders."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if isinstance(loader, dict):
            check_data_paths(loader.get('dataset'), f'{name}.dataset', ann_files=True)


def _listdir(folder: str) -> list[str]:
    return [e for e in os.listdir(folder) if not e.startswith('.')]


def launch_world_size() -> int:
    """The number of training processes: the initialised process group's, else what torchrun or slurm set."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get('WORLD_SIZE') or os.environ.get('SLURM_NTASKS') or 1)


def split_global_batch(cfg: Config, world_size: int | None = None) -> int | None:
    """Set ``train_dataloader.batch_size`` to ``global_batch_size`` (optional top-level key) over ``world_size``
    processes (default: :func:`launch_world_size`) and return it; raise if it does not divide. ``None`` (and the
    config unchanged) without ``global_batch_size``."""
    world_size = launch_world_size() if world_size is None else world_size
    total = cfg.get('global_batch_size')
    if total is None:
        return None
    if total % world_size:
        ok = [n for n in range(1, min(total, 64) + 1) if total % n == 0]
        raise ConfigError(
            f'global_batch_size={total} does not divide over {world_size} processes ({total}/{world_size} = '
            f'{total / world_size:.2f} per process). Use a process count that divides it ({ok}) or a global '
            f'batch that is a multiple of {world_size} (e.g. {math.floor(total / world_size) * world_size} or '
            f'{math.ceil(total / world_size) * world_size}).')
    if cfg.get('train_dataloader') is not None:
        cfg.train_dataloader.batch_size = total // world_size
    return total // world_size


def check_batch_size(cfg: Config, world_size: int | None = None) -> None:
    """Refuse a per-process ``train_dataloader.batch_size`` below 2, which BatchNorm cannot train on (after
    :func:`split_global_batch`; the config is only read)."""
    world_size = launch_world_size() if world_size is None else world_size
    loader = cfg.get('train_dataloader')
    if loader is not None and loader.get('batch_size') is not None and loader.batch_size < 2:
        raise ConfigError(
            f'train_dataloader.batch_size={loader.batch_size} per process ({world_size} processes): BatchNorm '
            'needs at least 2 samples per process to train. Raise the batch or use fewer processes.')


def load_config(path: str) -> Config:
    """``Config.fromfile`` with errors that name the file: a missing path, a folder, a Python syntax error (mmengine
    reports ``<unknown>`` as the file)."""
    if not osp.exists(path):
        moved = path.replace('configs/benchmarks/', 'benchmarks/')  # the layout before the benchmarks/ move
        hint = f'the benchmark configs moved to benchmarks/: {moved}' if moved != path and osp.exists(moved) else (
            'the shipped configs are under configs/ (pretraining) and benchmarks/ (evaluation)')
        raise ConfigError(f'{path}: config file does not exist (absolute: {osp.abspath(path)}) — check the path; '
                          f'{hint}.')
    if osp.isdir(path):
        raise ConfigError(f'{path}: is a folder, not a config file — give the path of a .py config inside it.')
    try:
        return Config.fromfile(path)
    except SyntaxError as e:
        where = path if e.filename in (None, '<unknown>') else e.filename
        raise ConfigError(f'{where}:{e.lineno}: Python syntax error in the config ({e.msg}) — fix that line '
                          f'({(e.text or "").strip()!r}).') from e


def _as_config_text(key: str, value: str) -> str:
    """``a.b.c`` = value as the nested dicts of a config file (which merge into its ``_base_``)."""
    *parents, last = key.split('.')
    text = f'{last}={value!r}'
    for parent in reversed(parents[1:]):
        text = f'{parent}=dict({text})'
    return f'{parents[0]} = dict({text})' if parents else text


def check_spaces(options: dict | None, argv: list[str] | None = None) -> None:
    """Refuse a ``--cfg-options`` value that held a space: mmengine's ``DictAction`` deletes every space from a value
    (``data_root=/data/my images`` arrives as ``/data/myimages``), quoted or not, so the run would read another path.
    ``argv``: the raw command line (default ``sys.argv``)."""
    argv = sys.argv[1:] if argv is None else argv
    for key, value in (options or {}).items():
        raw = next((a.split('=', 1)[1] for a in reversed(argv) if a.startswith(f'{key}=')), None)  # the last wins
        # a space between two characters of one element (not after a comma or a bracket of a list value)
        if raw is None or not re.search(r'[^\s,\[\]()]\s+[^\s,\[\]()]', raw.strip('\'"')):
            continue
        fix = (f' or set it in a config file of your own: _base_ = [CONFIG] and {_as_config_text(key, raw)}'
               if not any(part.isdigit() for part in key.split('.')) else ' or set it in a config file of your own')
        raise ConfigError(f'--cfg-options {key}={raw!r}: mmengine removes every space from a --cfg-options value '
                          f'(it would be {value!r}), whatever the quoting — give a path without spaces (e.g. a '
                          f'symlink to it){fix}.')


def merge_options(cfg: Config, options: dict | None) -> Config:
    """``cfg.merge_from_dict(options)`` (``--cfg-options``), naming the option that does not fit the config (e.g.
    an index past the end of a list) instead of mmengine's bare ``KeyError``, or whose spaces mmengine removed
    (:func:`check_spaces`)."""
    check_spaces(options)
    for key, value in (options or {}).items():
        try:
            cfg.merge_from_dict({key: value})
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            reason = e.args[0] if isinstance(e, KeyError) and e.args else e
            raise ConfigError(f'--cfg-options {key}={value!r}: does not fit the config ({reason}) — check the key '
                              'against the resolved config (print it with python -c "from mmengine import Config; '
                              'print(Config.fromfile(CONFIG).pretty_text)").') from e
    return cfg


def _check_int(loader: dict, name: str, key: str, minimum: int, reason: str = '') -> None:
    value = loader.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f'{name}.{key}={value!r} is not an integer — give a whole number, e.g. '
                          f'--cfg-options {name}.{key}={max(minimum, 2)}.')
    if value < minimum:
        why = f' ({reason})' if reason else ''
        raise ConfigError(f'{name}.{key}={value} must be >= {minimum}{why} — give a larger number, e.g. '
                          f'--cfg-options {name}.{key}={max(minimum, 2)}.')


def check_values(cfg: Config) -> list[str]:
    """Check values that would otherwise fail deep inside torch (or after the whole start-up): dataloader integers,
    a negative or non-numeric lr. Fix up ``persistent_workers`` where ``num_workers=0`` (a common debugging
    override of the shipped configs) and return notes saying so."""
    notes = []
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if not isinstance(loader, dict):
            continue
        if name == 'train_dataloader':  # the rule of check_batch_size, said here already
            _check_int(loader, name, 'batch_size', 2, 'per process: BatchNorm needs at least 2 samples to train')
        else:
            _check_int(loader, name, 'batch_size', 1)
        _check_int(loader, name, 'num_workers', 0)
        if loader.get('num_workers') == 0 and loader.get('persistent_workers'):
            loader['persistent_workers'] = False
            notes.append(f'{name}.num_workers=0: persistent_workers set to False (torch needs workers to keep them '
                         'alive); data loads in the main process.')
    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer')
    if isinstance(optimizer, dict) and 'lr' in optimizer:
        lr = optimizer['lr']
        if isinstance(lr, bool) or not isinstance(lr, (int, float)):
            raise ConfigError(f'optim_wrapper.optimizer.lr={lr!r} is not a number — give e.g. '
                              '--cfg-options optim_wrapper.optimizer.lr=0.05.')
        if not lr >= 0:
            raise ConfigError(f'optim_wrapper.optimizer.lr={lr} is negative (or NaN) — a learning rate must be >= 0; '
                              'give e.g. --cfg-options optim_wrapper.optimizer.lr=0.05.')
    return notes


def check_work_dir(work_dir: str) -> None:
    """Refuse a work dir that is a file, lies under a file, or cannot be written, before anything is built."""
    if osp.isfile(work_dir):
        raise WorkDirError(f'{work_dir}: --work-dir is a file, not a folder — choose another --work-dir (nothing was '
                           'written).')
    parent = osp.abspath(work_dir)
    while not osp.exists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        raise WorkDirError(f'{work_dir}: --work-dir lies under {parent}, which is a file, not a folder — choose '
                           'another --work-dir.')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WorkDirError(f'{work_dir}: --work-dir cannot be written ({parent} is read-only for this user or on a '
                           'read-only file system) — choose a writable --work-dir.')
    try:  # os.access says yes to root everywhere, and to virtual file systems (/proc, /sys) that create nothing
        os.rmdir(tempfile.mkdtemp(prefix='.simsiam_mm_write_probe_', dir=parent))
    except OSError as e:
        raise WorkDirError(f'{work_dir}: --work-dir cannot be created: {parent} accepts no new folder ({e.strerror}; '
                           'a system folder such as /proc or /sys, or a read-only file system) — choose a writable '
                           '--work-dir (nothing was written).') from e
