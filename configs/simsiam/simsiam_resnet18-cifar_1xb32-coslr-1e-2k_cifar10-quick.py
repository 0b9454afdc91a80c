# Minutes on a laptop CPU: the CIFAR-10 recipe on the first 2,000 training images, batch 32, one epoch (62
# iterations). A smoke run of the full pipeline, not a converged model.
_base_ = './simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10.py'

num_gpus, batch_size, epochs = 1, 32, 1
lr = 0.03 * num_gpus * batch_size / 256

train_dataloader = dict(batch_size=batch_size, num_workers=2, dataset=dict(indices=2000))
optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=epochs, by_epoch=True, begin=0, end=epochs)]
train_cfg = dict(max_epochs=epochs)
auto_scale_lr = dict(base_batch_size=num_gpus * batch_size)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=1))
