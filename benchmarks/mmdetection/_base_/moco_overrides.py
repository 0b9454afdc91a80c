# MoCo's detection fine-tuning protocol (He et al., "Momentum Contrast", CVPR 2020, Sec. 4.2), as the detection
# configs of mmselfsup 0.x (configs/benchmarks/mmdetection/) set it on top of the mmdet models: one block, inherited
# by every detection config here as the second _base_ and merged into the mmdet model by `{{_base_.moco_...}}`.
# mmengine refuses a top-level key that two bases both define, so this file defines only names the mmdet bases do not
# (model, default_hooks and the schedules stay in each config); `moco_` marks what belongs to the block. The C4 bases'
# top-level `norm_cfg` (frozen BN) stays in the merged config as an unused variable: the model's norms are these.

# The SimSiam checkpoint; tools/benchmarks/train_downstream.py replaces it by its PRETRAIN argument.
pretrained = 'work_dirs/simsiam_resnet50_8xb32-coslr-100e_in1k/epoch_100.pth'

# MoCo Sec. 4.2, Normalization: BN is trained and synchronised across GPUs, not frozen into an affine layer, and the
# newly initialised layers (the FPN, the heads) have it too
moco_norm_cfg = dict(type='SyncBN', requires_grad=True)

moco_backbone = dict(
    frozen_stages=-1,  # fine-tune every stage, the stem included
    norm_cfg=moco_norm_cfg,
    norm_eval=False,
    style='pytorch',  # stride in the 3x3 conv, as in torchvision / mmpretrain ResNets (the pretrained network)
    # refuses a checkpoint whose backbone.* tensors do not land (simsiam_mm/engine/pretrained.py)
    init_cfg=dict(type='CheckedPretrained', checkpoint=pretrained, prefix='backbone.'))

# The C4 detectors' RoI head: res5 + one BN (MoCo's Res5ROIHeadsExtraNorm; mmpretrain's ResLayerExtraNorm), started
# from the backbone's layer4: res5 = backbone.layer4 (50 tensors) + the extra norm (4, not pretrained): 50 of 54 load.
moco_res5_head = dict(
    type='ResLayerExtraNorm',
    norm_cfg=moco_norm_cfg,
    norm_eval=False,
    style='pytorch',
    init_cfg=dict(type='CheckedPretrained', checkpoint=pretrained, prefix='backbone.', min_fraction=0.9))

# RGB input normalised with the ImageNet mean/std, as in pretraining (mmdet's caffe C4 bases expect BGR, mean only);
# merged into the base's data_preprocessor, which keeps its padding settings.
moco_data_preprocessor = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True)

# simsiam_mm imports mmpretrain.models (which registers ResLayerExtraNorm in mmdet), registers CheckedPretrained and
# lets torch >= 2.6 read our checkpoints with weights_only=True (simsiam_mm/checkpoint.py)
custom_imports = dict(imports=['simsiam_mm'], allow_failed_imports=False)
