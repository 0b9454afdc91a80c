# Per-stage linear probes feature1..feature5 of a frozen SimSiam ResNet-50 on Places205 (205 scene classes, ~2.45M
# train / 20.5k val images): the reference protocol behind mmselfsup's and the seed's Places205 Feature1-5 table
# (mmselfsup 0.x configs/benchmarks/classification/places205/resnet50_mhead_8xb32-steplr-28e_places205.py with
# _base_/datasets/places205.py). The model, optimiser (SGD lr 0.01, nesterov, momentum 0.9, weight decay 1e-4, none on
# norms) and batch (256 = 8 x 32) are the ImageNet per-stage config's; here 28 epochs, lr x0.1 at epochs 7, 14, 21;
# training images: short side 256 -> center crop 256 -> random crop 224 -> horizontal flip; val: 256 -> center 224.
#
# Data layout (mmpretrain Places205 = CustomDataset with an annotation list):
#   data/places205/
#     train/<first letter>/<category>/<image>.jpg     e.g. train/a/abbey/00000001.jpg
#     val/<image>.jpg
#     meta/train.txt    one "<path relative to train/> <label 0..204>" per line
#     meta/val.txt      one "<path relative to val/> <label 0..204>" per line
#
#   bash tools/dist_train.sh \
#       benchmarks/classification/places205/resnet50_multihead-linear-8xb32-steplr-28e_places205.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=PATH/TO/simsiam_checkpoint.pth
_base_ = '../imagenet/resnet50_multihead-linear-8xb32-steplr-90e_in1k.py'

data_root = 'data/places205'
num_classes = 205
model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
# mmselfsup 0.x configs/benchmarks/classification/_base_/datasets/places205.py train_pipeline
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=256),
    dict(type='RandomCrop', crop_size=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    dataset=dict(_delete_=True, type='Places205', data_root=data_root, data_prefix='train', ann_file='meta/train.txt',
                 pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='Places205', data_root=data_root, data_prefix='val', ann_file='meta/val.txt',
                 pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader

# mmselfsup 0.x resnet50_mhead_8xb32-steplr-28e_places205.py: MultiStepLR [7, 14, 21], 28 epochs
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[7, 14, 21], gamma=0.1)]
train_cfg = dict(max_epochs=28, val_interval=4)
default_hooks = dict(checkpoint=dict(interval=4))
