# SimSiam ResNet-50, ImageNet-1k, 8 GPUs x 64 images: the paper's batch 512 (lr 0.1), 100 epochs.
_base_ = './simsiam_resnet50_8xb32-coslr-100e_in1k.py'

num_gpus, batch_size = 8, 64
lr = 0.05 * num_gpus * batch_size / 256

train_dataloader = dict(batch_size=batch_size)
optim_wrapper = dict(optimizer=dict(lr=lr))
auto_scale_lr = dict(base_batch_size=num_gpus * batch_size)
