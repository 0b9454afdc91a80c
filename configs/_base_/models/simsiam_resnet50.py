# SimSiam, ImageNet setting (paper Sec. 4): ResNet-50 + 3-layer 2048-d projector + 2048-512-2048 predictor.
model = dict(
    type='SimSiam',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=dict(type='SyncBN'),
        zero_init_residual=True),  # last BN of each residual block starts at zero
    neck=dict(  # projector: part of the encoder f
        type='SimSiamProjector',
        in_channels=2048,
        hid_channels=2048,
        out_channels=2048,
        num_layers=3,
        norm_cfg=dict(type='SyncBN')),
    head=dict(
        type='SimSiamHead',
        predictor=dict(  # h: a bottleneck
            type='SimSiamPredictor',
            in_channels=2048,
            hid_channels=512,
            out_channels=2048,
            norm_cfg=dict(type='SyncBN')),
        loss=dict(type='NegativeCosineSimilarity'),
        stop_gradient=True,  # paper Table 1: without it the output collapses (0.1% linear accuracy)
        symmetric=True),
)
