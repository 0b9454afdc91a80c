# SGD with cosine decay (paper Sec. 4). Leaf configs set optimizer.lr = base_lr x total_batch / 256 and
# auto_scale_lr.base_batch_size = total_batch, so `--auto-scale-lr` rescales for another GPU count or batch size.
# The predictor keeps the (scaled) base lr, undecayed: SimSiamOptimWrapperConstructor.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4),
    constructor='SimSiamOptimWrapperConstructor')
param_scheduler = [dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0, end=100)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100)
auto_scale_lr = dict(base_batch_size=256, enable=False)
