# EXTRA, NOT the reference protocol: linear evaluation of a frozen SimSiam ResNet-50 on Places205 with the SimSiam
# ImageNet avg-pool protocol (LARS, batch 4096, lr 1.6, wd 0, 90 epochs cosine, global avgpool + fc). The Places205
# numbers of mmselfsup and of the seed tables (Feature1..5) come from the per-stage multi-head protocol:
# resnet50_multihead-linear-8xb32-steplr-28e_places205.py (see docs/evaluation.md).
#
# Data layout (mmpretrain Places205 = CustomDataset with an annotation list):
#   data/places205/
#     train/<first letter>/<category>/<image>.jpg     e.g. train/a/abbey/00000001.jpg
#     val/<image>.jpg
#     meta/train.txt    one "<path relative to train/> <label 0..204>" per line
#     meta/val.txt      one "<path relative to val/> <label 0..204>" per line
#
#   bash tools/dist_train.sh \
#       benchmarks/classification/places205/resnet50_avgpool-linear-8xb512-lars-coslr-90e_places205.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=PATH/TO/simsiam_checkpoint.pth
_base_ = '../imagenet/resnet50_linear-8xb512-lars-coslr-90e_in1k.py'

data_root = 'data/places205'
model = dict(head=dict(num_classes=205))
data_preprocessor = dict(num_classes=205)
train_dataloader = dict(
    dataset=dict(_delete_=True, type='Places205', data_root=data_root, data_prefix='train', ann_file='meta/train.txt',
                 pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='Places205', data_root=data_root, data_prefix='val', ann_file='meta/val.txt',
                 pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
