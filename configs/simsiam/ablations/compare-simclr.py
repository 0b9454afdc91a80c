# Paper Table 4 (ImageNet method comparison, 100 ep, batch 4096 for SimCLR: 66.5): mmpretrain's SimCLR as mmpretrain
# configures it (mmpretrain configs/simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py: NonLinearNeck 2048-2048-128,
# ContrastiveHead at T = 0.1, LARS lr 4.8 at batch 4096, wd 1e-6, no wd and no LARS for BN and biases), on the
# budget's backbone, views, schedule and precision. The runner fills the neck's in_channels with the backbone's
# width, scales lr by batch / auto_scale_lr.base_batch_size and scopes the data preprocessor to simsiam_mm.
model = dict(
    type='mmpretrain.SimCLR',
    neck=dict(_delete_=True, type='mmpretrain.NonLinearNeck', in_channels=None, hid_channels=2048,
              out_channels=128, num_layers=2, with_avg_pool=True),
    head=dict(_delete_=True, type='mmpretrain.ContrastiveHead', loss=dict(type='mmpretrain.CrossEntropyLoss'),
              temperature=0.1))
optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    optimizer=dict(_delete_=True, type='mmpretrain.LARS', lr=4.8, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(_delete_=True, custom_keys={
        'bn': dict(decay_mult=0, lars_exclude=True),
        'bias': dict(decay_mult=0, lars_exclude=True),
        'downsample.1': dict(decay_mult=0, lars_exclude=True)}))
auto_scale_lr = dict(base_batch_size=4096)
