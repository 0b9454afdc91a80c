# The fast path with the colour augmentation on the device: the CPU pipeline decodes, crops and flips; the data
# preprocessor applies colour jitter, grayscale and blur to each view as a batch with per-sample parameters
# (simsiam_mm/models/batch_augment.py; same distributions: tests/test_pipeline_distribution.py).
_base_ = './simsiam_resnet50_8xb32-coslr-100e_in1k-fast-pipeline.py'

model = dict(data_preprocessor=dict(type='BatchAugDataPreprocessor'))  # the switch: colour ops on the device ...
crop = dict(scale=224, crop_ratio_range=(0.2, 1.))
view_pipeline = [dict(type='FastRandomResizedCrop', **crop), dict(type='FastRandomFlip', prob=0.5)]  # ... not here
train_pipeline = [
    dict(type='SeedSampleRNG'),  # this sample's own augmentation seed (ResumableSampler): exact resume
    dict(type='FastLoadImageFromFile', draft_for=crop, max_skip_fraction=0.01),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
