# Linear evaluation of a SimSiam ResNet-18 (CIFAR variant) on CIFAR-10 (paper appendix: 91.8% after 800 pretraining
# epochs). Frozen backbone, global average pooling, one fc. The paper gives no CIFAR linear schedule; this applies the
# official main_lincls.py SGD recipe: lr 0.1 x BatchSize/256 (= 0.2 at batch 512), momentum 0.9, weight decay 0,
# cosine, here 100 epochs; training crops: random crop 32 with 4-px padding + horizontal flip.
#
#   python tools/train.py \
#       benchmarks/classification/cifar10/resnet18-cifar_linear-1xb512-coslr-100e_cifar10.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=PATH/TO/simsiam_resnet18-cifar_checkpoint.pth
#
# Data: data/cifar10/{train,test}/<class>/*.jpg (ImageNet-style class folders, as for pretraining). Normalisation is
# the pretraining one (ImageNet mean/std, BGR->RGB), so the frozen features see the inputs they were trained on.
_base_ = ['../../../configs/_base_/default_runtime.py']

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor', num_classes=10, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        out_indices=(3, ),
        frozen_stages=4,
        # mmpretrain's ResNet zeroes the last BN of every block after loading unless init_cfg's type is
        # exactly 'Pretrained': off, or the checked initialiser's weights would be overwritten
        zero_init_residual=False,
        init_cfg=dict(type='CheckedPretrained', checkpoint='', prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)))

data_root = 'data/cifar10'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=512,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=512,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='test', pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=0.))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0, end=100)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512)
custom_hooks = []
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
