# SimSiam -> COCO instance segmentation: Mask R-CNN R50-C4, 2x schedule (24 epochs, lr x0.1 at 16 and 22),
# 8 GPUs x 2 images. Everything else as in the 1x config.
# Run: bash tools/benchmarks/mmdetection/dist_train.sh THIS_CONFIG PRETRAIN.pth 8
_base_ = './mask-rcnn_r50-c4_8xb2-ms-1x_coco.py'

# mmselfsup 0.x configs/benchmarks/mmdetection/_base_/schedules/schedule_2x.py: warmup_iters=1000, warmup_ratio=0.001,
# lr x0.1 after epochs 16 and 22
max_epochs = 24
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[16, 22], gamma=0.1),
]
