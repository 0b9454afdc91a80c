# Per-stage linear probes feature1..feature5 of a frozen SimSiam ResNet-50 on ImageNet-1k, all trained at once
# (Goyal et al. 2019 benchmark; mmselfsup resnet50_mhead_linear-8xb32-steplr-90e_in1k.py). Each output (stem before
# the max-pool, res2, res3, res4, res5) is average-pooled with the reference's fixed windows (mmselfsup 0.x
# MultiPooling 'specified', the head's defaults from simsiam_mm/evaluation/pooling.py) to 12/6/4/3/2 px
# (9216/9216/8192/9216/8192 dims), batch-normalised without affine parameters and classified by its own fc.
# SGD lr 0.01 (nesterov, momentum 0.9), weight decay 1e-4 (none on norms), batch 256 = 8 x 32, 90 epochs, lr x0.1 at
# epochs 30 and 60.
#
#   bash tools/dist_train.sh \
#       benchmarks/classification/imagenet/resnet50_multihead-linear-8xb32-steplr-90e_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=PATH/TO/simsiam_checkpoint.pth
#
# Logged metrics: multihead/feature{1..5}_top{1,5}.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    '../../../configs/_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNetAllStages',
        depth=50,
        out_indices=(0, 1, 2, 3, 4),  # 0 = stem, 1..4 = res2..res5
        frozen_stages=4,
        norm_eval=True,
        # mmpretrain's ResNet zeroes the last BN of every block after loading unless init_cfg's type is
        # exactly 'Pretrained': off, or the checked initialiser's weights would be overwritten
        zero_init_residual=False,
        # refuses a checkpoint whose 'backbone.*' tensors do not fit (simsiam_mm/engine/pretrained.py)
        init_cfg=dict(type='CheckedPretrained', checkpoint='', prefix='backbone.')),
    neck=None,
    head=dict(
        type='MultiStageLinearHead',
        in_channels=(64, 256, 512, 1024, 2048),  # pool_params / feat_sizes: the reference windows at 224 px
        num_classes=1000,
        norm_cfg=dict(type='SyncBN', affine=False),  # the Runner reverts SyncBN to BN in a single process
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    # AlexNet PCA lighting noise as mmselfsup 0.x adds it (its Lighting, after ToTensor): to the float image, with no
    # clipping or cast back to uint8 (mmpretrain's Lighting truncates to uint8: black wraps to 251). The ImageNet
    # eigenvectors are the reference's (rows R, G, B); the offset goes to the matching channel of this BGR image
    # (LoadImageFromFile; the data_preprocessor converts to RGB later). simsiam_mm/datasets/lighting.py
    dict(type='simsiam_mm.FloatLighting', alphastd=0.1, channel_order='bgr'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
# _delete_ drops the `_scope_='mmpretrain'` inherited from mmpretrain's base, which would hide our metric.
val_evaluator = dict(_delete_=True, type='MultiHeadAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0.))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60], gamma=0.1)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=90, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
custom_hooks = []
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
