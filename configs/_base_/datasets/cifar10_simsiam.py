# CIFAR-10 in ImageNet-style folders data/cifar10/{train,test}/<class>/*.jpg (tools/data/prepare_cifar10.py writes
# them), two 32x32 views per image. The MoCo v2 augmentation without Gaussian blur, which does not suit 32x32 images.
dataset_type = 'CustomDataset'
data_root = 'data/cifar10/'

view_pipeline = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.), backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)],
        prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='SeedSampleRNG'),  # this sample's own augmentation seed (ResumableSampler): exact resume
    dict(type='SafeLoadImageFromFile', max_skip_fraction=0.01),  # skips corrupt files, up to 1%
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=512,
    num_workers=8,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='ResumableSampler', shuffle=True),  # DefaultSampler + exact mid-epoch resume
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='train', pipeline=train_pipeline))
