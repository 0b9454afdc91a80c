# SimSiam in the Table 4 comparison at the paper's own optimiser (Sec. 4 "Baseline settings": SGD, lr 0.05 at batch
# 256, wd 1e-4, momentum 0.9; 68.1 at 100 ep), scaled by batch like the other methods' rows, instead of the budget's
# tuned short-schedule lr: the methods then all stand on their published recipes.
optim_wrapper = dict(optimizer=dict(lr=0.05, weight_decay=1e-4))
auto_scale_lr = dict(base_batch_size=256)
