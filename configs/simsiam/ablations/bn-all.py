# Paper Table 3 (Sec. 4.4) "all": BN also on the predictor output — reported as unstable, with no number. The
# added BN is the hidden layers' norm with affine parameters (the paper does not say; BN's default).
model = dict(head=dict(predictor=dict(out_norm_cfg=dict(affine=True))))
