# The first run: SimSiam on the 1,000 CIFAR-10 images shipped in the repository (data_samples/cifar10-mini: 50 train
# and 50 test images per class, PNG), with the short CPU recipe (32px config) cut to ITERS iterations. The log shows
# whether it learns: a weighted kNN (k=20, T=0.07) of the 500 test images against the 500 train images before the
# first iteration (the random network) and every KNN_INTERVAL iterations, and the collapse score z_std*sqrt(d).
#   python tools/train.py configs/simsiam/simsiam_resnet18-w16_1xb64-coslr-1k_cifar10-mini.py
_base_ = './simsiam_resnet18-w16_1xb64-coslr-6k_imagefolder-32px-cpu.py'

data_root = 'data_samples/cifar10-mini'
iters, warmup, knn_interval = 1000, 50, 250

train_dataloader = dict(dataset=dict(dataset=dict(data_root=data_root)))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup),
    dict(type='CosineAnnealingLR', T_max=iters - warmup, by_epoch=False, begin=warmup, end=iters),
]
train_cfg = dict(max_iters=iters)
# float32: bfloat16 autocast pays only on CPUs with fast bf16 kernels (the short recipe's Xeon); on an AVX2-only
# CPU one iteration cost 7x the float32 one (measured here), and a first run must be quick on any laptop.
optim_wrapper = dict(dtype='float32')
randomness = dict(seed=0)  # the same log on a rerun (on the same machine and library versions)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=iters))
knn_data = dict(type='CustomDataset', data_root=data_root, pipeline={{_base_.knn_pipeline}})
custom_hooks = [
    dict(type='CollapseMonitorHook', threshold=0.1, patience=20),
    dict(type='NonFiniteLossHook'),
    dict(type='KNNEvalHook', interval=knn_interval, by_epoch=False, before_train=True,
         train_dataset=dict(knn_data, data_prefix='train'), val_dataset=dict(knn_data, data_prefix='test')),
]
