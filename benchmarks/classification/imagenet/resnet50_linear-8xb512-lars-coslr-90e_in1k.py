# Linear evaluation of a SimSiam ResNet-50 on ImageNet-1k (paper Sec. 4 / appendix, official main_lincls.py --lars,
# mmselfsup 1.x resnet50_linear-8xb512-coslr-90e_in1k.py): frozen backbone, global average pooling,
# one fc; LARS, batch 4096 = 8 GPUs x 512, lr 1.6 = 0.1 x 4096 / 256, weight decay 0, momentum 0.9, 90 epochs cosine.
# Paper: 68.1 / 70.0 / 70.8 / 71.3 top-1 after 100 / 200 / 400 / 800 pretraining epochs;
# mmselfsup: 68.3 / 69.8 (100 / 200).
#
#   bash tools/dist_train.sh \
#       benchmarks/classification/imagenet/resnet50_linear-8xb512-lars-coslr-90e_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/simsiam_resnet50_8xb32-coslr-100e_in1k/epoch_100.pth
#
# Data: data/imagenet/{train,val}/ and meta/{train,val}.txt (mmpretrain's ImageNet layout).
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_lars_coslr_90e.py',
    '../../../configs/_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        frozen_stages=4,  # stem + 4 stages frozen, their BN in eval mode: only the fc learns
        # The SimSiam pretraining checkpoint: keys 'backbone.*' -> the backbone (projector/predictor are dropped).
        # mmpretrain's ResNet zeroes the last BN of every block after loading unless init_cfg's type is
        # exactly 'Pretrained': off, or the checked initialiser's weights would be overwritten
        zero_init_residual=False,
        init_cfg=dict(type='CheckedPretrained', checkpoint='', prefix='backbone.')),
    head=dict(init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)))  # main_lincls: fc ~ N(0, 0.01), b=0

train_dataloader = dict(batch_size=512)
optim_wrapper = dict(optimizer=dict(type='LARS', lr=1.6, momentum=0.9, weight_decay=0.))
auto_scale_lr = dict(base_batch_size=4096)
custom_hooks = []  # no collapse monitor: this is supervised training of a linear layer
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
