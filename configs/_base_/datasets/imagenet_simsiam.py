# ImageNet-1k, two views per image with the MoCo v2 augmentation (paper Sec. 4, "Baseline settings").
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'

view_pipeline = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.), backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)],
        prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),  # sigma in [0.1, 2]
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='SeedSampleRNG'),  # this sample's own augmentation seed (ResumableSampler): exact resume
    dict(type='SafeLoadImageFromFile', max_skip_fraction=0.01),  # decoded once (corrupt files skipped, up to 1%) ...
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),  # ... augmented twice
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='ResumableSampler', shuffle=True),  # DefaultSampler + exact mid-epoch resume
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
