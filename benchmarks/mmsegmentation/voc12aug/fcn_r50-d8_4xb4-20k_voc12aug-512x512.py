# SimSiam -> PASCAL VOC 2012 + SBD (VOC12aug) semantic segmentation: FCN R50-D8, 512x512 crops, 20k iterations,
# 4 GPUs x 4 images (batch 16; on 8 GPUs pass --cfg-options train_dataloader.batch_size=2). Reports mIoU on val.
# Run: bash tools/benchmarks/mmsegmentation/dist_train.sh THIS_CONFIG PRETRAIN.pth 4
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py'

# The SimSiam checkpoint; the runner replaces it by its PRETRAIN argument.
pretrained = 'work_dirs/simsiam_resnet50_8xb32-coslr-100e_in1k/epoch_100.pth'

model = dict(
    pretrained=None,  # the base points at open-mmlab://resnet50_v1c
    backbone=dict(
        type='ResNet',  # plain 7x7 stem as pretrained (the base's ResNetV1c has a 3-conv deep stem)
        style='pytorch',
        norm_eval=False,  # SyncBN trained (the base already has norm_cfg=SyncBN, frozen_stages=-1)
        init_cfg=dict(type='CheckedPretrained', checkpoint=pretrained, prefix='backbone.')))

default_hooks = dict(checkpoint=dict(max_keep_ckpts=2))
# simsiam_mm lets torch >= 2.6 read our checkpoints with weights_only=True (simsiam_mm/checkpoint.py)
custom_imports = dict(imports=['simsiam_mm'], allow_failed_imports=False)
