# Paper Table 3 (Sec. 4.4) "none": no BN in either MLP head (34.6). The fc layers then keep their biases. The paper
# trains this row with a warm-up (its footnote: 10 of the 100 epochs); the runner adds a linear warm-up over the
# first 10% of training.
model = dict(
    neck=dict(norm_cfg=None, out_norm_cfg=None),
    head=dict(predictor=dict(norm_cfg=None)))
warmup_fraction = 0.1  # tools/analysis/ablations.py: linear warm-up over this fraction of the schedule
