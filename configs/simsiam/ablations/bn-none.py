# Paper Table 3 "none": no BN in either MLP head (34.6). The fc layers then keep their biases.
model = dict(
    neck=dict(norm_cfg=None, out_norm_cfg=None),
    head=dict(predictor=dict(norm_cfg=None)))
