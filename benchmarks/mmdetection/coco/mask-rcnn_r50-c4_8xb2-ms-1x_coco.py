# SimSiam -> COCO instance segmentation: Mask R-CNN R50-C4, 1x schedule (12 epochs), 8 GPUs x 2 images.
# MoCo's protocol (../_base_/moco_overrides.py): SyncBN, res5 head (initialised from the backbone's layer4) followed by
# an extra BN, multi-scale training (short side 640-800), test at 800. Reports coco/bbox_mAP and coco/segm_mAP on
# val2017.
# Run: bash tools/benchmarks/mmdetection/dist_train.sh THIS_CONFIG PRETRAIN.pth 8
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py', '../_base_/moco_overrides.py']

model = dict(
    data_preprocessor={{_base_.moco_data_preprocessor}},
    backbone={{_base_.moco_backbone}},
    roi_head=dict(shared_head={{_base_.moco_res5_head}}))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# mmselfsup 0.x configs/benchmarks/mmdetection/_base_/schedules/schedule_1x.py: linear warm-up over 1000 iterations
# from lr x0.001 (warmup_iters=1000, warmup_ratio=0.001; mmdet 3.3's schedule_1x warms up over 500), lr x0.1 after
# epochs 8 and 11
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]

default_hooks = dict(checkpoint=dict(max_keep_ckpts=2))
