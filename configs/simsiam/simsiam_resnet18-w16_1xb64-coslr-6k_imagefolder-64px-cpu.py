# SimSiam in minutes on a 2-core CPU, for any ImageNet-style folder <data_root>/train/<class>/*.jpg:
# ResNet-18 (CIFAR stem, width 16), batch 64, 32x32 views. The images are decoded once into memory
# (CachedDataset, each brought to `cache_size` by its short edge and centre-cropped; 32x32 images: the 32px
# config) and the views are made there, batched (BatchAugDataPreprocessor with crop_size): the network gets
# both cores, in bfloat16 autocast with channels-last activations. About 12 minutes of training here (0.12 s/it.).
# How each value was chosen: docs/short_recipe.md.
#   python tools/train.py CONFIG --cfg-options train_dataloader.dataset.dataset.data_root=data/my_images
_base_ = [
    '../_base_/models/simsiam_resnet18_cifar.py',
    '../_base_/schedules/sgd_coslr.py',
    '../_base_/default_runtime.py',
]

data_root = 'data/my_images'
cache_size = 64    # images are kept at cache_size x cache_size (short edge resize + centre crop)
image_size = 32    # the training views (and kNN inputs): crops of the cached image resized to image_size
width = 16         # ResNet-18 base width (64 = the real ResNet-18): 128-d features
dim, pred_dim = 512, 128  # projector width and output, predictor bottleneck (4:1 as the paper's 2048:512)
num_gpus, batch_size = 1, 64
iters, warmup = 6000, 100  # 0.12 s/it. on 2 cores: 12 minutes (docs/short_recipe.md)
lr = 0.5 * num_gpus * batch_size / 256  # peak lr of the encoder; the predictor keeps it, undecayed

model = dict(
    data_preprocessor=dict(
        type='BatchAugDataPreprocessor', crop_size=image_size, crop_scale=(0.2, 1.0), blur_prob=0.0,
        brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05,  # half the MoCo v2 jitter: better in a short budget
        channels_last=True, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(norm_cfg=dict(type='BN'), base_channels=width, stem_channels=width),
    neck=dict(in_channels=8 * width, hid_channels=dim, out_channels=dim, norm_cfg=dict(type='BN1d')),
    head=dict(predictor=dict(in_channels=dim, hid_channels=pred_dim, out_channels=dim, norm_cfg=dict(type='BN1d'))),
)
cache_pipeline = [
    dict(type='SafeLoadImageFromFile', max_skip_fraction=0.01),
    dict(type='ResizeEdge', scale=cache_size, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=cache_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,  # a batch is an index into memory
    drop_last=True,
    sampler=dict(type='InfiniteResumableSampler', shuffle=True),  # epoch after epoch: the loop counts iterations
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CachedDataset', dataset=dict(
        type='CustomDataset', data_root=data_root, data_prefix='train', pipeline=cache_pipeline)))
optim_wrapper = dict(type='AutocastOptimWrapper', dtype='bfloat16', optimizer=dict(lr=lr, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup),
    dict(type='CosineAnnealingLR', T_max=iters - warmup, by_epoch=False, begin=warmup, end=iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=iters)
auto_scale_lr = dict(base_batch_size=num_gpus * batch_size)
default_hooks = dict(logger=dict(interval=100, log_metric_by_epoch=False),
                     checkpoint=dict(interval=iters, by_epoch=False))
log_processor = dict(by_epoch=False)  # Iter(train) [ 100/6000], not Epoch(train) [1][100/78]
# kNN at the training resolution (tools/analysis/learning_evidence.py reads this): train split as the bank.
knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=cache_size, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=cache_size),
    dict(type='Resize', scale=image_size, backend='pillow'),
    dict(type='PackInputs'),
]
# Label-free health (docs/label_free.md): RankMe of the backbone and of z on 1,024 training images every 500
# iterations, logged beside z_std·√d, and a diagnosis (healthy / dimensional / complete collapse) at the end.
custom_hooks = [
    dict(type='CollapseMonitorHook', threshold=0.1, patience=20),
    dict(type='NonFiniteLossHook'),
    dict(type='RankMeHook', interval=500, num_images=1024),
]
