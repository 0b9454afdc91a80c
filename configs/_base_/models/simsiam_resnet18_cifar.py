# SimSiam, CIFAR-10 setting (paper appendix): ResNet-18 with a 3x3 stem and no max-pool, 2-layer projector.
_base_ = './simsiam_resnet50.py'

model = dict(
    backbone=dict(_delete_=True, type='ResNet_CIFAR', depth=18, norm_cfg=dict(type='SyncBN'), zero_init_residual=True),
    neck=dict(in_channels=512, num_layers=2),  # "the projection MLP has 2 layers"; hidden and output stay 2048-d
)
