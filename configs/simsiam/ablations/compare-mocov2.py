# Paper Table 4 (ImageNet method comparison, 100 ep: MoCo v2 67.4): mmpretrain's MoCo v2 as mmpretrain configures it
# (mmpretrain configs/mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py: MoCoV2Neck 2048-2048-128, queue 65,536,
# key-encoder momentum 0.999 (momentum=0.001), ContrastiveHead at T = 0.2, SGD lr 0.03 at batch 256, wd 1e-4), on the
# budget's backbone, views, schedule and precision. The runner fills the neck's in_channels and scales lr. At a CPU
# budget the queue is longer than the keys a run produces: most negatives stay the queue's random initial vectors.
model = dict(
    type='mmpretrain.MoCo',
    queue_len=65536,
    feat_dim=128,
    momentum=0.001,
    neck=dict(_delete_=True, type='mmpretrain.MoCoV2Neck', in_channels=None, hid_channels=2048, out_channels=128,
              with_avg_pool=True),
    head=dict(_delete_=True, type='mmpretrain.ContrastiveHead', loss=dict(type='mmpretrain.CrossEntropyLoss'),
              temperature=0.2))
optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    optimizer=dict(_delete_=True, type='SGD', lr=0.03, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(_delete_=True))
auto_scale_lr = dict(base_batch_size=256)
