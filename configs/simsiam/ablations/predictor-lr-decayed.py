# Paper Table 1 "lr with cosine decay" (67.7), also the run of Fig. 2 "w/ stop-grad" (67.7): the predictor follows
# the schedule like every other layer, instead of keeping the base lr (the default, "no decay": 68.1). An option of
# SimSiamOptimWrapperConstructor.
optim_wrapper = dict(paramwise_cfg=dict(fixed_lr_module=None))
