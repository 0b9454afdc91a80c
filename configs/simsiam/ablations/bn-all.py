# Paper Table 3 "all": BN also on the predictor output (35.2, "unstable"). The added BN is the hidden layers' norm
# with affine parameters (the paper does not say; BN's default).
model = dict(head=dict(predictor=dict(out_norm_cfg=dict(affine=True))))
