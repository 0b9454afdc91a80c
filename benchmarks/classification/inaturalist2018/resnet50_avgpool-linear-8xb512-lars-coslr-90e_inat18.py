# EXTRA, NOT the reference protocol: linear evaluation of a frozen SimSiam ResNet-50 on iNaturalist 2018 (8,142
# species) with the SimSiam ImageNet avg-pool protocol (LARS, batch 4096, lr 1.6, wd 0, 90 epochs cosine, global
# avgpool + fc). mmselfsup's iNat18 protocol is the per-stage multi-head one:
# resnet50_multihead-linear-8xb32-steplr-84e_inat18.py (see docs/evaluation.md).
#
# Data layout (CustomDataset with annotation lists; convert the official train2018.json / val2018.json once: each
# image's "file_name" and its annotation's "category_id"):
#   data/inaturalist2018/
#     train_val2018/<super-category>/<category id>/<image>.jpg    (the official archive, unchanged)
#     meta/train.txt    one "<path relative to train_val2018/> <category id 0..8141>" per line
#     meta/val.txt      same, for the validation images
#
#   bash tools/dist_train.sh \
#       benchmarks/classification/inaturalist2018/resnet50_avgpool-linear-8xb512-lars-coslr-90e_inat18.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=PATH/TO/simsiam_checkpoint.pth
_base_ = '../imagenet/resnet50_linear-8xb512-lars-coslr-90e_in1k.py'

data_root = 'data/inaturalist2018'
num_classes = 8142
model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='train_val2018',
                 ann_file='meta/train.txt', metainfo=dict(classes=[str(i) for i in range(num_classes)]),
                 pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='train_val2018',
                 ann_file='meta/val.txt', metainfo=dict(classes=[str(i) for i in range(num_classes)]),
                 pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
