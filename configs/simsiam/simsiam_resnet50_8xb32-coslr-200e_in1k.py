# SimSiam ResNet-50, ImageNet-1k, batch 256, 200 epochs.
_base_ = './simsiam_resnet50_8xb32-coslr-100e_in1k.py'

epochs = 200
param_scheduler = [dict(type='CosineAnnealingLR', T_max=epochs, by_epoch=True, begin=0, end=epochs)]
train_cfg = dict(max_epochs=epochs)
