# A ResNet-50 SimSiam checkpoint for the downstream smoke runs on a CPU (tools/benchmarks/train_downstream.py
# --smoke): 2 iterations of batch 4 on 16 CIFAR-10 images at 64 px, a minute or less on 2 cores. The weights are
# barely trained: the checkpoint exercises the pipeline (backbone.* tensors loaded into mmdet/mmseg), it is no
# pretrained model and its downstream numbers mean nothing.
_base_ = [
    '../_base_/models/simsiam_resnet50.py',
    '../_base_/datasets/cifar10_simsiam.py',
    '../_base_/schedules/sgd_coslr.py',
    '../_base_/default_runtime.py',
]

num_gpus, batch_size, iters = 1, 4, 2
view_pipeline = [
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(
    batch_size=batch_size, num_workers=0, persistent_workers=False,
    dataset=dict(indices=16, pipeline=[
        dict(type='SeedSampleRNG'),  # this sample's own augmentation seed (ResumableSampler): exact resume
        dict(type='SafeLoadImageFromFile', max_skip_fraction=0.01),
        dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
        dict(type='PackInputs'),
    ]))
optim_wrapper = dict(optimizer=dict(lr=0.05 * num_gpus * batch_size / 256))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=iters, by_epoch=False, begin=0, end=iters)]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=iters)
auto_scale_lr = dict(base_batch_size=num_gpus * batch_size)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=iters, by_epoch=False))
log_processor = dict(by_epoch=False)
