# SimSiam -> COCO instance segmentation: Mask R-CNN R50-C4, 1x schedule (12 epochs), 8 GPUs x 2 images.
# MoCo's protocol: SyncBN, res5 head (initialised from the backbone's layer4) followed by an extra BN, multi-scale
# training (short side 640-800), test at 800. Reports coco/bbox_mAP and coco/segm_mAP on val2017.
# Run: bash tools/benchmarks/mmdetection/dist_train.sh THIS_CONFIG PRETRAIN.pth 8
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py'

# The SimSiam checkpoint; the runner replaces it by its PRETRAIN argument.
pretrained = 'work_dirs/simsiam_resnet50_8xb32-coslr-100e_in1k/epoch_100.pth'
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    # RGB + ImageNet mean/std, as in pretraining (the caffe base expects BGR, mean only)
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_mask=True,
        pad_size_divisor=32),
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(type='CheckedPretrained', checkpoint=pretrained, prefix='backbone.')),
    roi_head=dict(
        shared_head=dict(
            type='ResLayerExtraNorm',  # res5 + one BN (MoCo's Res5ROIHeadsExtraNorm; mmpretrain)
            norm_cfg=norm_cfg,
            norm_eval=False,
            style='pytorch',
            # res5 = backbone.layer4 (50 tensors) + the extra norm (4, not pretrained): 50 of 54 tensors load
            init_cfg=dict(type='CheckedPretrained', checkpoint=pretrained, prefix='backbone.', min_fraction=0.9))))

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
# simsiam_mm imports mmpretrain.models (which registers ResLayerExtraNorm in mmdet) and lets torch >= 2.6 read
# our checkpoints with weights_only=True (simsiam_mm/checkpoint.py)
custom_imports = dict(imports=['simsiam_mm'], allow_failed_imports=False)
