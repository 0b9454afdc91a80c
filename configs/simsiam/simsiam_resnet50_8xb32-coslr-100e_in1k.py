# SimSiam ResNet-50, ImageNet-1k, 8 GPUs x 32 images (batch 256), 100 epochs: the OpenMMLab recipe.
_base_ = [
    '../_base_/models/simsiam_resnet50.py',
    '../_base_/datasets/imagenet_simsiam.py',
    '../_base_/schedules/sgd_coslr.py',
    '../_base_/default_runtime.py',
]

num_gpus, batch_size, epochs = 8, 32, 100
lr = 0.05 * num_gpus * batch_size / 256  # paper: lr = base_lr x BatchSize / 256, base_lr = 0.05

train_dataloader = dict(batch_size=batch_size)
optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=epochs, by_epoch=True, begin=0, end=epochs)]
train_cfg = dict(max_epochs=epochs)
auto_scale_lr = dict(base_batch_size=num_gpus * batch_size)
