"""Config surgery for the downstream benchmarks (MMDetection / MMSegmentation) of a SimSiam backbone.

The configs under ``benchmarks/mmdetection`` and ``benchmarks/mmsegmentation`` only need
``custom_imports=dict(imports=['simsiam_mm'])``: importing ``simsiam_mm`` lets torch >= 2.6 read our checkpoints with
``weights_only=True`` (see :mod:`simsiam_mm.checkpoint`), registers ``CheckedPretrained`` where mmdet and mmseg
configs can name it, and imports ``mmpretrain.models``, which registers the C4 detectors' res5 head with the extra BN
of MoCo's protocol (``ResLayerExtraNorm``, in mmdet's registry). This module serves
``tools/benchmarks/train_downstream.py``: the pretrained-weights, data-root and smoke-run config rewrites, and
:class:`LastMetricsHook` (keeps the final metrics). It imports neither mmdet nor mmseg.

Checked initialisation (:func:`set_pretrained`): mmselfsup's protocol points
``init_cfg=dict(type='Pretrained', checkpoint=CKPT, prefix='backbone.')`` at the pretraining checkpoint: mmengine
keeps the ``backbone.*`` tensors, strips the prefix and loads them with ``strict=False``. ``strict=False`` is also the
danger: a checkpoint whose keys match nothing (another prefix, a converted file, a typo) leaves the network at random
initialisation without an error. :func:`set_pretrained` points every such ``init_cfg`` at the user's checkpoint
itself as ``CheckedPretrained`` (:mod:`simsiam_mm.engine.pretrained`), which refuses a file without ``backbone.``
tensors or with weights that do not land, naming the user's file and the count, and records its count on the module
(:func:`pretrained_loads`).

Config rewrites (:func:`set_data_root`, :func:`smoke_cfg`): the smoke run keeps everything that can break (the
dataset classes and their annotation parsing, the transforms, the model with its SyncBN->BN conversion, the loss, the
optimiser step, the real evaluator) and shrinks only what costs time: iterations, image scale, batch size, the number
of proposals, and the checkpoints.
"""
from pathlib import Path
from typing import Any, Callable, Iterator

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch import nn

from simsiam_mm.checkpoint import BACKBONE_PREFIX
from simsiam_mm.engine.pretrained import CheckedPretrainedInit
from simsiam_mm.errors import ConfigError
from simsiam_mm.registry import HOOKS

__all__ = ['LastMetricsHook', 'pretrained_loads', 'set_data_root', 'set_pretrained', 'smoke_cfg']

PREFIX = BACKBONE_PREFIX
PRETRAINED_TYPES = ('Pretrained', 'CheckedPretrained')


def set_pretrained(model_cfg: dict, checkpoint: str, prefix: str = PREFIX) -> list[str]:
    """Point every ``init_cfg=dict(type='Pretrained' or 'CheckedPretrained', prefix=prefix)`` in a model config at
    ``checkpoint``, as ``CheckedPretrained``.

    Returns the dotted module paths that will be initialised (``['backbone']``, or ``['backbone',
    'roi_head.shared_head']`` for a C4 detector whose res5 head starts from ``backbone.layer4``). Raises
    ``ValueError`` when the config has none, since the model would then train from scratch.

    Examples:
        >>> cfg = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='x', prefix='backbone.')),
        ...            roi_head=dict(shared_head=dict(init_cfg=dict(type='Pretrained', prefix='backbone.'))))
        >>> set_pretrained(cfg, 'simsiam.pth'), cfg['roi_head']['shared_head']['init_cfg']['checkpoint']
        (['backbone', 'roi_head.shared_head'], 'simsiam.pth')
    """
    targets: list[str] = []

    def visit(node: Any, path: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            return
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') in PRETRAINED_TYPES and init.get('prefix') == prefix:
            init['type'], init['checkpoint'] = 'CheckedPretrained', checkpoint
            targets.append('.'.join(path))
        for key, value in node.items():
            if key != 'init_cfg':
                visit(value, path + (key, ))

    visit(model_cfg, ())
    if not targets:
        raise ConfigError(f'model: no init_cfg=dict(type="CheckedPretrained", prefix="{prefix}") anywhere in the '
                          f'model config, so nothing would be initialised from {checkpoint} — add one to the backbone')
    if model_cfg.get('pretrained'):
        raise ConfigError(f'model.pretrained={model_cfg["pretrained"]!r} would override the backbone init_cfg — set '
                          'model.pretrained=None in the benchmark config')
    return targets


def pretrained_loads(model: nn.Module, targets: list[str]) -> list[dict[str, Any]]:
    """How each module of ``targets`` (what :func:`set_pretrained` returned) was initialised: tensors loaded from the
    checkpoint, of how many, and how many kept their initialisation (as ``CheckedPretrained`` recorded them).
    Raises :class:`ConfigError` for a target that was not initialised from the checkpoint."""
    rows = []
    for target in targets:
        check = CheckedPretrainedInit.check_of(model.get_submodule(target))
        if check is None:
            raise ConfigError(f'model.{target}: its init_cfg points at the pretrained checkpoint, but it was not '
                              'initialised from it (did the config replace init_cfg after set_pretrained?)')
        rows.append(dict(module=target, loaded=len(check.matched), module_tensors=check.expected,
                         not_in_checkpoint=len(check.missing)))
    return rows


# transforms whose ``scale``/``scales`` is an image size to shrink
RESIZE_TYPES = ('Resize', 'RandomResize', 'RandomChoiceResize', 'FixShapeResize')
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
EVALUATORS = ('val_evaluator', 'test_evaluator')


def _datasets(dataset: dict | None) -> Iterator[dict]:
    """Yield a dataset config and those it wraps (ConcatDataset.datasets, RepeatDataset.dataset, ...)."""
    if not isinstance(dataset, dict):
        return
    yield dataset
    yield from _datasets(dataset.get('dataset'))
    for child in dataset.get('datasets') or []:
        yield from _datasets(child)


def _dataset_cfgs(cfg: Config) -> Iterator[dict]:
    for name in DATALOADERS:
        loader = cfg.get(name)
        if loader:
            yield from _datasets(loader.get('dataset'))


def set_data_root(cfg: Config, data_root: str) -> Config:
    """Point every dataset at ``data_root`` (the folder a benchmark's ``data/...`` stands for).

    Evaluator annotation files under the old root (COCO's ``data/coco/annotations/instances_val2017.json``) move
    with it. Raises ``ValueError`` when no dataset has a ``data_root``.
    """
    old_roots = set()
    for dataset in _dataset_cfgs(cfg):
        if 'data_root' in dataset:
            old_roots.add(str(dataset['data_root']))
            dataset['data_root'] = data_root
    if not old_roots:
        raise ConfigError('--data-root: no dataset in the config has a data_root to replace')
    if len(old_roots) > 1:
        raise ConfigError(f'--data-root: the datasets use several roots {sorted(old_roots)}; set them with '
                         '--cfg-options instead')
    old = old_roots.pop()
    new = data_root if data_root.endswith('/') or not old.endswith('/') else data_root + '/'
    for name in EVALUATORS:
        for evaluator in _as_list(cfg.get(name)):
            ann_file = evaluator.get('ann_file') if isinstance(evaluator, dict) else None
            if isinstance(ann_file, str) and ann_file.startswith(old):
                evaluator['ann_file'] = new + ann_file[len(old):]
    return cfg


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value] if value else []


def _transforms(cfg: Config) -> Iterator[dict]:
    """Every transform of every dataset pipeline, including those nested in RandomChoice/TestTimeAug lists."""

    def walk(node: Any) -> Iterator[dict]:
        if isinstance(node, dict):
            if 'type' in node:
                yield node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                yield from walk(value)

    for dataset in _dataset_cfgs(cfg):
        yield from walk(dataset.get('pipeline'))


def _scaled(scale: Any, factor: float) -> Any:
    if isinstance(scale, (list, tuple)) and scale and isinstance(scale[0], (list, tuple)):
        return [_scaled(s, factor) for s in scale]
    if isinstance(scale, (list, tuple)):
        return tuple(max(1, round(s * factor)) for s in scale)
    return max(1, round(scale * factor))


def _rescale_pipelines(cfg: Config, factor: float, crop: int | None = None) -> None:
    for t in _transforms(cfg):
        if t['type'] in RESIZE_TYPES:
            for key in ('scale', 'scales'):
                if t.get(key) is not None:
                    t[key] = _scaled(t[key], factor)
        elif t['type'] == 'RandomCrop' and crop is not None:
            t['crop_size'] = (crop, crop)
        elif t['type'] == 'Pad' and crop is not None and t.get('size') is not None:
            t['size'] = (crop, crop)


def _test_short_side(cfg: Config) -> int:
    """The short side of the (first) test-time Resize: 800 for the detection protocols."""
    for t in _datasets_transforms(cfg, 'test_dataloader'):
        if t['type'] == 'Resize' and t.get('scale') is not None:
            return min(t['scale']) if isinstance(t['scale'], (list, tuple)) else t['scale']
    raise ConfigError('smoke mode: no Resize with a scale in the test pipeline to shrink')


def _datasets_transforms(cfg: Config, loader: str) -> Iterator[dict]:
    for dataset in _datasets(cfg[loader].get('dataset')):
        for t in dataset.get('pipeline') or []:
            if isinstance(t, dict):
                yield t


def _shrink_detector(cfg: Config, size: int, proposals: int) -> None:
    _rescale_pipelines(cfg, size / _test_short_side(cfg))
    train_cfg, test_cfg = cfg.model.get('train_cfg') or {}, cfg.model.get('test_cfg') or {}
    if 'rpn_proposal' in train_cfg:
        train_cfg.rpn_proposal.update(nms_pre=proposals * 4, max_per_img=proposals)
    if 'rcnn' in train_cfg:
        train_cfg.rcnn.sampler.num = proposals
    if 'rpn' in test_cfg:
        test_cfg.rpn.update(nms_pre=proposals * 4, max_per_img=proposals)
    if 'rcnn' in test_cfg:
        # an untrained classifier scores ~1/(classes+1) < 0.05: keep its boxes so the evaluator has work to do
        test_cfg.rcnn.update(score_thr=0.0, max_per_img=proposals)


def _shrink_segmentor(cfg: Config, size: int) -> None:
    crop = cfg.model.data_preprocessor.get('size')
    if not crop:
        raise ConfigError('smoke mode: model.data_preprocessor.size (the crop size) is not set')
    factor = size / max(crop)
    _rescale_pipelines(cfg, factor, crop=size)
    cfg.model.data_preprocessor.size = (size, size)
    test_cfg = cfg.model.get('test_cfg') or {}
    if test_cfg.get('mode') == 'slide':  # keep sliding windows, on the shrunk image
        test_cfg.crop_size = (size, size)
        test_cfg.stride = _scaled(test_cfg.stride, factor)


def _ann_file_present(dataset: dict) -> bool:
    """Whether ``dataset``'s ``ann_file`` (relative to its ``data_root``) exists; True for datasets without one."""
    ann_file = dataset.get('ann_file')
    if not ann_file:
        return True
    path = Path(ann_file)
    return (path if path.is_absolute() else Path(dataset.get('data_root') or '') / path).is_file()


def _drop_missing_parts(cfg: Config) -> list[str]:
    """Keep the parts of each training ``ConcatDataset`` whose ``ann_file`` exists, when at least one does.

    The samples a smoke run uses may lack a part of the protocol's mixture (VOC12aug's SBD ``aug`` list); the
    pipeline is still checked on the others. Returns the dropped annotation files (a part is never dropped when
    every part is missing: the dataset then names its own missing file).
    """
    dropped = []
    for dataset in _datasets(cfg.train_dataloader.get('dataset')):
        parts = dataset.get('datasets') or []
        present = [part for part in parts if _ann_file_present(part)]
        if present and len(present) < len(parts):
            dropped += [f"{part.get('data_root', '')}/{part['ann_file']}" for part in parts if part not in present]
            dataset['datasets'] = present
    return dropped


def _subset_evaluation(cfg: Config, images: int) -> None:
    """Evaluate on the first ``images`` images of each val/test dataset (wrapper datasets are left whole)."""
    for name in ('val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(name) or {}).get('dataset')
        if isinstance(dataset, dict) and 'dataset' not in dataset and 'datasets' not in dataset:
            dataset['indices'] = images


def smoke_cfg(cfg: Config, iters: int = 2, size: int = 128, proposals: int = 32,
              val_images: int | None = 2) -> Config:
    """Shrink a downstream benchmark config, in place, to ``iters`` iterations at a tiny image scale.

    Detection: the test scale's short side becomes ``size`` and every other scale shrinks by the same factor (the
    multi-scale range keeps its shape), the RPN keeps ``proposals`` boxes and the RoI sampler samples as many, and
    the test score threshold drops to 0. Segmentation: the crop becomes ``size`` x ``size``, resize scales and the
    sliding window shrink by the same factor. Both: one image per batch, no dataloader workers, a constant lr, a log
    line per iteration, validation once at the end on the first ``val_images`` images (None: all), no checkpoint
    files, and a training ``ConcatDataset`` keeps only the parts whose ``ann_file`` exists (the VOC12aug samples
    have no SBD ``aug`` list), with a note naming the dropped ones.

    Examples:
        >>> cfg = Config.fromfile(
        ...     'benchmarks/mmsegmentation/cityscapes/fcn_r50-d8_4xb2-40k_cityscapes-769x769.py')
        >>> cfg = smoke_cfg(cfg, iters=2, size=64)
        >>> cfg.train_cfg.max_iters, cfg.model.test_cfg.crop_size, cfg.model.test_cfg.stride
        (2, (64, 64), (43, 43))
    """
    scope = cfg.get('default_scope')
    shrink: dict[str, Callable[[], None]] = {
        'mmdet': lambda: _shrink_detector(cfg, size, proposals),
        'mmseg': lambda: _shrink_segmentor(cfg, size),
    }
    if scope not in shrink:
        raise ConfigError(f'smoke mode supports mmdet and mmseg configs, got default_scope={scope!r}')
    shrink[scope]()
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=iters)]
    for name in DATALOADERS:
        loader = cfg.get(name)
        if loader:
            loader.update(batch_size=1, num_workers=0, persistent_workers=False)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=-1, save_last=False)
    cfg.log_processor = dict(cfg.get('log_processor') or {}, by_epoch=False)
    if val_images is not None:
        _subset_evaluation(cfg, val_images)
    for ann_file in _drop_missing_parts(cfg):
        print_log(f'smoke mode: training without the dataset part {ann_file} (not found)', logger='current')
    return cfg


@HOOKS.register_module()
class LastMetricsHook(Hook):
    """Keep the metrics of the last validation (or test) epoch, which the runner prints and saves."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.metrics: dict | None = None

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        if metrics:
            self.metrics = dict(metrics)

    def after_test_epoch(self, runner, metrics: dict | None = None) -> None:
        self.after_val_epoch(runner, metrics)
