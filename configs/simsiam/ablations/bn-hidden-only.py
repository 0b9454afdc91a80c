# Paper Table 3 "hidden-only": BN after the hidden fc layers of both heads, none on the projector output (67.4).
model = dict(neck=dict(out_norm_cfg=None))
