# Paper Table 1 "no pred. MLP": h is the identity; collapses (0.1). (The fixed-lr group is then empty.)
model = dict(head=dict(predictor=None))
