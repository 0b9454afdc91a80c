# The fast path (simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10-fast.py) fed by the fast CPU input pipeline: the
# same augmentation distribution as the reference CIFAR pipeline (no blur; tests/test_pipeline_distribution.py),
# computed faster (simsiam_mm/datasets/fast_pipeline.py; docs/performance.md). Only the pipeline differs from -fast.
_base_ = './simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10-fast.py'

crop = dict(scale=32, crop_ratio_range=(0.2, 1.))
view_pipeline = [
    dict(type='FastRandomResizedCrop', **crop),
    dict(
        type='RandomApply',
        transforms=[dict(type='FastColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)],
        prob=0.8),
    dict(type='FastRandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='FastRandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='SeedSampleRNG'),  # this sample's own augmentation seed (ResumableSampler): exact resume
    dict(type='FastLoadImageFromFile', draft_for=crop, max_skip_fraction=0.01),  # decoded once for both views
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
