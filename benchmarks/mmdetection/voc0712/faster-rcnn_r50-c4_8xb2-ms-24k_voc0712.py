# SimSiam -> PASCAL VOC07+12 detection: Faster R-CNN R50-C4, 24k iterations, 8 GPUs x 2 images (MoCo's protocol).
# Train on VOC2007+2012 trainval (16.5k images), test on VOC2007 test with the 11-point VOC metric, reporting
# AP50 (pascal_voc/AP50), AP75 (pascal_voc/AP75) and AP (pascal_voc/mAP, the mean over IoU 0.50:0.05:0.95).
# Run: bash tools/benchmarks/mmdetection/dist_train.sh THIS_CONFIG PRETRAIN.pth 8
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py'

# The SimSiam checkpoint; the runner replaces it by its PRETRAIN argument (here: the ImageNet 100-epoch run).
pretrained = 'work_dirs/simsiam_resnet50_8xb32-coslr-100e_in1k/epoch_100.pth'
norm_cfg = dict(type='SyncBN', requires_grad=True)  # BN trained and synchronised, not frozen (MoCo Sec. 4.2)

model = dict(
    # the backbone was pretrained on RGB images normalised with the ImageNet mean/std, not on caffe BGR
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(
        frozen_stages=-1,  # fine-tune every stage, the stem included
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',  # stride in the 3x3 conv, as in torchvision / mmpretrain ResNets
        init_cfg=dict(type='CheckedPretrained', checkpoint=pretrained, prefix='backbone.')),
    roi_head=dict(
        shared_head=dict(
            type='ResLayerExtraNorm',  # res5 + one BN (MoCo's Res5ROIHeadsExtraNorm; mmpretrain)
            norm_cfg=norm_cfg,
            norm_eval=False,
            style='pytorch',
            # res5 = backbone.layer4 (50 tensors) + the extra norm (4, not pretrained): 50 of 54 tensors load
            init_cfg=dict(type='CheckedPretrained', checkpoint=pretrained, prefix='backbone.', min_fraction=0.9)),
        bbox_head=dict(num_classes=20)))

# 11-point VOC07 AP at IoU 0.50, ..., 0.95: AP50, AP75 and their mean AP, as detectron2's VOC evaluator reports
val_evaluator = dict(
    type='VOCMetric', metric='mAP', eval_mode='11points', iou_thrs=[0.5 + 0.05 * i for i in range(10)])
test_evaluator = val_evaluator

# 24k iterations, lr x0.1 at 18k and 22k, 100 warm-up iterations (the 18k base: 12k/16k)
max_iters = 24000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[18000, 22000], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2000, max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)

# simsiam_mm imports mmpretrain.models (which registers ResLayerExtraNorm in mmdet) and lets torch >= 2.6 read
# our checkpoints with weights_only=True (simsiam_mm/checkpoint.py)
custom_imports = dict(imports=['simsiam_mm'], allow_failed_imports=False)
