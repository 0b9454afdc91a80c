# Paper Table 4 (ImageNet method comparison, 100 ep, "two 224 views" for every method, so SwAV without multi-crop:
# 66.5): mmpretrain's SwAV as mmpretrain configures it (mmpretrain configs/swav/
# swav_resnet50_8xb32-mcrop-coslr-200e_in1k-224px-96px.py: SwAVNeck 2048-2048-128 with L2-normalised output,
# SwAVHead/SwAVLoss with 3,000 prototypes, Sinkhorn epsilon 0.05 (3 iterations), temperature 0.1, LARS lr 0.6 at
# batch 256, wd 1e-6, prototypes frozen for the first epoch by SwAVHook), cut to two views (num_crops [2], both
# used for the assignments) and without the queue (mmpretrain starts it at epoch 15; none of our CPU budgets gets
# there), on the budget's backbone, views, schedule and precision. The runner fills the neck's in_channels, scales
# lr by batch / 256, appends `method_hooks` to the recipe's hooks and fills the hook's None values: batch_size
# with the per-process batch, the prototypes' frozen iterations with 1 % of the schedule (1 of 100 epochs at
# in1k-100e, as mmpretrain's 5005 iterations are 1 ImageNet epoch at batch 256).
model = dict(
    type='mmpretrain.SwAV',
    neck=dict(_delete_=True, type='mmpretrain.SwAVNeck', in_channels=None, hid_channels=2048, out_channels=128,
              with_avg_pool=True),
    head=dict(_delete_=True, type='mmpretrain.SwAVHead',
              loss=dict(type='mmpretrain.SwAVLoss', feat_dim=128, epsilon=0.05, temperature=0.1, num_crops=[2],
                        crops_for_assign=[0, 1], num_prototypes=3000)))
optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    optimizer=dict(_delete_=True, type='mmpretrain.LARS', lr=0.6, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=None)  # as mmpretrain: one group (SwAVNeck holds its BN twice, which paramwise splitting rejects)
auto_scale_lr = dict(base_batch_size=256)
method_hooks = [
    dict(type='mmpretrain.SwAVHook', priority='VERY_HIGH', batch_size=None, epoch_queue_starts=15,
         crops_for_assign=[0, 1], feat_dim=128, queue_length=0, frozen_layers_cfg=dict(prototypes=None)),
]
