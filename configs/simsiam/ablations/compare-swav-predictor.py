# Paper Sec. 6.2 (SwAV with SimSiam's parts; ImageNet linear, 100 ep: SwAV 66.5, + prediction MLP 65.2):
# compare-swav (mmpretrain's SwAV, two views, no queue) with SimSiam's predictor h on the predicting side,
# SwAVWithPredictor (simsiam_mm/models/relations.py): each view's codes from its projection z (stop-gradient, as SwAV),
# predicted from the other view's p = h(z). h is SimSiam's bottleneck at the neck's width: 128 -> 32 -> 128 (d/4
# hidden, as 2048 -> 512 -> 2048), BN + ReLU on the hidden layer only. Memory: h's 8.3k weights.
_base_ = './compare-swav.py'
model = dict(
    type='SwAVWithPredictor',
    stop_gradient=True,
    predictor=dict(type='SimSiamPredictor', in_channels=128, hid_channels=32, out_channels=128))
