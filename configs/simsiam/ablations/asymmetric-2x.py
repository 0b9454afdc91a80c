# Paper Sec. 4.6 (symmetrization) "asym. 2x": the asymmetric loss on two pairs of views per image (67.3), i.e. as
# many loss terms as the symmetric loss. Four views per image; SimSiam.loss pairs them (1, 2) and (3, 4).
model = dict(head=dict(symmetric=False))
num_views = 4  # tools/analysis/ablations.py sets this on the pipeline's MultiView step
