# SimSiam -> PASCAL VOC07+12 detection: Faster R-CNN R50-C4, 24k iterations, 8 GPUs x 2 images (MoCo's protocol,
# ../_base_/moco_overrides.py).
# Train on VOC2007+2012 trainval (16.5k images), test on VOC2007 test with the 11-point VOC metric, reporting
# AP50 (pascal_voc/AP50: the figure comparable to the published VOC AP50), AP75 (pascal_voc/AP75) and AP
# (pascal_voc/mAP, the mean over IoU 0.50:0.05:0.95, not AP50).
# Run: bash tools/benchmarks/mmdetection/dist_train.sh THIS_CONFIG PRETRAIN.pth 8
_base_ = ['mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py', '../_base_/moco_overrides.py']

model = dict(
    data_preprocessor={{_base_.moco_data_preprocessor}},
    backbone={{_base_.moco_backbone}},
    roi_head=dict(shared_head={{_base_.moco_res5_head}}, bbox_head=dict(num_classes=20)),
    # mmselfsup 0.x configs/benchmarks/mmdetection/_base_/models/faster_rcnn_r50_c4.py: the RPN trains only on anchors
    # inside the image (allowed_border=0; mmdet 3.3's faster-rcnn_r50-caffe-c4 base has -1, every anchor)
    train_cfg=dict(rpn=dict(allowed_border=0)))

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
