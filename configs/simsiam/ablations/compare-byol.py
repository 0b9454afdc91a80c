# Paper Table 4 (ImageNet method comparison, 100 ep: BYOL 66.5): mmpretrain's BYOL as mmpretrain configures it
# (mmpretrain configs/byol/byol_resnet50_16xb256-coslr-200e_in1k.py: projector and predictor NonLinearNeck
# 4096-wide to 256 with bias and no last BN, LatentPredictHead with CosineSimilarityLoss, target momentum 0.99
# (base_momentum=0.01, cosine to 1), LARS lr 4.8 at batch 4096, wd 1e-6), on the budget's backbone, views,
# schedule and precision. The runner fills the neck's in_channels and scales lr (see compare-simclr.py).
model = dict(
    type='mmpretrain.BYOL',
    base_momentum=0.01,
    neck=dict(_delete_=True, type='mmpretrain.NonLinearNeck', in_channels=None, hid_channels=4096,
              out_channels=256, num_layers=2, with_bias=True, with_last_bn=False, with_avg_pool=True),
    head=dict(_delete_=True, type='mmpretrain.LatentPredictHead',
              predictor=dict(type='mmpretrain.NonLinearNeck', in_channels=256, hid_channels=4096, out_channels=256,
                             num_layers=2, with_bias=True, with_last_bn=False, with_avg_pool=False),
              loss=dict(type='mmpretrain.CosineSimilarityLoss')))
optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    optimizer=dict(_delete_=True, type='mmpretrain.LARS', lr=4.8, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(_delete_=True, custom_keys={
        'bn': dict(decay_mult=0, lars_exclude=True),
        'bias': dict(decay_mult=0, lars_exclude=True),
        'downsample.1': dict(decay_mult=0, lars_exclude=True)}))
auto_scale_lr = dict(base_batch_size=4096)
