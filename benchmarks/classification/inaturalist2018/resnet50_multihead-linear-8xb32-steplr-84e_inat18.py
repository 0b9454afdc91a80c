# Per-stage linear probes feature1..feature5 of a frozen SimSiam ResNet-50 on iNaturalist 2018 (8,142 species,
# 437,513 train / 24,426 val images): the reference protocol, as in
# mmselfsup 0.x configs/benchmarks/classification/inaturalist2018/resnet50_mhead_8xb32-steplr-84e_inat18.py with
# _base_/datasets/inaturalist2018.py. The model, optimiser (SGD lr 0.01, nesterov, momentum 0.9, weight decay 1e-4,
# none on norms) and batch (256 = 8 x 32) are the ImageNet per-stage config's; here 84 epochs, lr x0.1 at epochs 24,
# 48, 72; training images: random resized crop 224 + horizontal flip; val: short side 256 -> center crop 224.
#
# Data layout (CustomDataset with annotation lists; convert the official train2018.json / val2018.json once: each
# image's "file_name" and its annotation's "category_id"):
#   data/inaturalist2018/
#     train_val2018/<super-category>/<category id>/<image>.jpg    (the official archive, unchanged)
#     meta/train.txt    one "<path relative to train_val2018/> <category id 0..8141>" per line
#     meta/val.txt      same, for the validation images
#
#   bash tools/dist_train.sh \
#       benchmarks/classification/inaturalist2018/resnet50_multihead-linear-8xb32-steplr-84e_inat18.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=PATH/TO/simsiam_checkpoint.pth
_base_ = '../imagenet/resnet50_multihead-linear-8xb32-steplr-90e_in1k.py'

data_root = 'data/inaturalist2018'
num_classes = 8142
model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
# mmselfsup 0.x configs/benchmarks/classification/_base_/datasets/inaturalist2018.py train_pipeline
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
classes = [str(i) for i in range(num_classes)]
train_dataloader = dict(
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='train_val2018',
                 ann_file='meta/train.txt', metainfo=dict(classes=classes), pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='train_val2018',
                 ann_file='meta/val.txt', metainfo=dict(classes=classes), pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader

# mmselfsup 0.x resnet50_mhead_8xb32-steplr-84e_inat18.py: MultiStepLR [24, 48, 72], 84 epochs
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[24, 48, 72], gamma=0.1)]
train_cfg = dict(max_epochs=84, val_interval=12)
default_hooks = dict(checkpoint=dict(interval=12))
