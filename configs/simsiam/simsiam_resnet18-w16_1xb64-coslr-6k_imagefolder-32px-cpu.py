# The short CPU recipe for 32x32 images (e.g. CIFAR-10): as the 64px config, but the images are cached at 32x32,
# the size they have, and the views are crops of them resized back to 32. How each value was chosen:
# docs/short_recipe.md.
#   python tools/train.py CONFIG --cfg-options train_dataloader.dataset.dataset.data_root=data/cifar10
_base_ = './simsiam_resnet18-w16_1xb64-coslr-6k_imagefolder-64px-cpu.py'

cache_size = 32
image_size = 32
cache_pipeline = [
    dict(type='SafeLoadImageFromFile', max_skip_fraction=0.01),
    dict(type='ResizeEdge', scale=cache_size, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=cache_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=cache_pipeline)))
knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=cache_size, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=cache_size),
    dict(type='PackInputs'),
]
