# SimSiam -> COCO instance segmentation: Mask R-CNN R50-FPN, 1x schedule (12 epochs), 8 GPUs x 2 images.
# MoCo's protocol: SyncBN in the backbone, the FPN and the heads (4conv1fc box head), multi-scale training
# (short side 640-800), test at 800. Reports coco/bbox_mAP (AP^bb) and coco/segm_mAP (AP^mk) on val2017.
# Run: bash tools/benchmarks/mmdetection/dist_train.sh THIS_CONFIG PRETRAIN.pth 8
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

# The SimSiam checkpoint; the runner replaces it by its PRETRAIN argument.
pretrained = 'work_dirs/simsiam_resnet50_8xb32-coslr-100e_in1k/epoch_100.pth'
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(type='CheckedPretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(norm_cfg=norm_cfg),  # "We also use SyncBN in the newly initialized layers (e.g., FPN)"
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

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

default_hooks = dict(checkpoint=dict(max_keep_ckpts=2))
# simsiam_mm lets torch >= 2.6 read our checkpoints with weights_only=True (simsiam_mm/checkpoint.py)
custom_imports = dict(imports=['simsiam_mm'], allow_failed_imports=False)
