# SimSiam ResNet-18 (CIFAR variant), CIFAR-10, batch 512, 800 epochs (paper appendix: 91.8% kNN/linear).
# "lr 0.03 x BatchSize/256, weight decay 5e-4, SGD momentum 0.9, batch 512, 800 epochs".
_base_ = [
    '../_base_/models/simsiam_resnet18_cifar.py',
    '../_base_/datasets/cifar10_simsiam.py',
    '../_base_/schedules/sgd_coslr.py',
    '../_base_/default_runtime.py',
]

num_gpus, batch_size, epochs = 1, 512, 800
lr = 0.03 * num_gpus * batch_size / 256

train_dataloader = dict(batch_size=batch_size)
optim_wrapper = dict(optimizer=dict(lr=lr, weight_decay=5e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=epochs, by_epoch=True, begin=0, end=epochs)]
train_cfg = dict(max_epochs=epochs)
auto_scale_lr = dict(base_batch_size=num_gpus * batch_size)
default_hooks = dict(checkpoint=dict(interval=50))
