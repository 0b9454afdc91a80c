# SimSiam -> Cityscapes semantic segmentation: FCN R50-D8, 769x769 crops, 40k iterations, 4 GPUs x 2 images
# (batch 8; on 8 GPUs pass --cfg-options train_dataloader.batch_size=1), sliding-window inference (769 crops,
# stride 513) on the full 2049x1025 val images. Reports mIoU over the 19 classes.
# Run: bash tools/benchmarks/mmsegmentation/dist_train.sh THIS_CONFIG PRETRAIN.pth 4
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-769x769.py'

# The SimSiam checkpoint; the runner replaces it by its PRETRAIN argument.
pretrained = 'work_dirs/simsiam_resnet50_8xb32-coslr-100e_in1k/epoch_100.pth'

model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNet',
        style='pytorch',
        norm_eval=False,
        init_cfg=dict(type='CheckedPretrained', checkpoint=pretrained, prefix='backbone.')))

default_hooks = dict(checkpoint=dict(max_keep_ckpts=2))
# simsiam_mm lets torch >= 2.6 read our checkpoints with weights_only=True (simsiam_mm/checkpoint.py)
custom_imports = dict(imports=['simsiam_mm'], allow_failed_imports=False)
