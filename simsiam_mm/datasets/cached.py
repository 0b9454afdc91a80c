"""Decode every image of a small dataset once and keep it in memory: the loader of the short CPU recipes.

On a 2-core machine the per-sample pipeline (decode, crop, jitter, pack; two views) in a loader worker competes with
the width-16 network it feeds: a float32 step of batch 64 took 0.258 s with that pipeline against 0.215 s from the
cache (0.122 s with the recipe's bf16 and channels-last; ``tools/analysis/short_recipe_speed.py``,
docs/short_recipe.md). With :class:`CachedDataset` the images are decoded and brought to one size once, a batch is
an index into memory, and the random crops, flips and colour operations run batched in
:class:`~simsiam_mm.models.BatchAugDataPreprocessor` (``crop_size`` set), so the network gets both cores.
"""
import time

from mmengine.logging import print_log
from torch.utils.data import Dataset

from simsiam_mm.errors import DataError
from simsiam_mm.registry import DATASETS


@DATASETS.register_module()
class CachedDataset(Dataset):
    """A dataset whose items are computed once by its own pipeline and then served from memory.

    The wrapped dataset's pipeline must be deterministic and end in one fixed image size (e.g. ``LoadImageFromFile``,
    ``ResizeEdge`` + ``CenterCrop``, ``PackInputs``), so that a batch stacks; anything random belongs in the data
    preprocessor. 5,000 images of 64x64 take 60 MB, 50,000 of 32x32 150 MB.

    Args:
        dataset: the wrapped dataset or its config (built with our ``DATASETS``).

    Examples:
        >>> dataset = dict(type='CachedDataset', dataset=dict(
        ...     type='CustomDataset', data_root='data/my_images', data_prefix='train',
        ...     pipeline=[dict(type='LoadImageFromFile'), dict(type='ResizeEdge', scale=64, edge='short'),
        ...               dict(type='CenterCrop', crop_size=64), dict(type='PackInputs')]))
    """

    def __init__(self, dataset: dict | Dataset) -> None:
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self._items: list | None = None

    @property
    def metainfo(self) -> dict:
        return getattr(self.dataset, 'metainfo', {})

    def full_init(self) -> None:
        """Run the pipeline over every item once (mmengine's Runner calls this when it builds the loader)."""
        if self._items is not None:
            return
        start, items = time.perf_counter(), []
        for index in range(len(self.dataset)):
            item = self.dataset[index]
            if items and item['inputs'].shape != items[0]['inputs'].shape:
                path = getattr(item.get('data_samples'), 'img_path', f'item {index}')
                raise DataError(
                    f'{path}: CachedDataset needs one image size, got {tuple(item["inputs"].shape)} after '
                    f'{tuple(items[0]["inputs"].shape)} — end the pipeline with a fixed-size resize and crop '
                    "(e.g. ResizeEdge + CenterCrop) before 'PackInputs'.")
            items.append(item)
        self._items = items
        shape = tuple(items[0]['inputs'].shape) if items else ()
        print_log(f'CachedDataset: {len(items)} images of {shape} decoded into memory in '
                  f'{time.perf_counter() - start:.1f} s', logger='current')

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        self.full_init()
        return self._items[index]

    def get_gt_labels(self):
        return self.dataset.get_gt_labels()
