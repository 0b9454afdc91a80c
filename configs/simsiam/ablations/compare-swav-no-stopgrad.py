# Paper Sec. 6.2 (SwAV with SimSiam's parts; ImageNet linear, 100 ep: SwAV without stop-gradient "NaN"): compare-swav
# (mmpretrain's SwAV, two views, no queue) with gradients flowing through the codes' Sinkhorn-Knopp,
# SwAVWithPredictor (simsiam_mm/models/relations.py) with no predictor and stop_gradient=False. One process only.
_base_ = './compare-swav.py'
model = dict(type='SwAVWithPredictor', stop_gradient=False, predictor=None)
