# Paper Sec. 6.2 (SimCLR with SimSiam's parts; ImageNet linear, 100 ep: SimCLR 66.5, + prediction MLP 66.4):
# compare-simclr (mmpretrain's SimCLR as mmpretrain configures it) with SimSiam's predictor h on the query side,
# SimCLRWithPredictor (simsiam_mm/models/relations.py). h is SimSiam's bottleneck at the neck's width: 128 -> 32 -> 128
# (d/4 hidden, as 2048 -> 512 -> 2048), BN + ReLU on the hidden layer only.
_base_ = './compare-simclr.py'
model = dict(
    type='SimCLRWithPredictor',
    stop_gradient=False,
    predictor=dict(type='SimSiamPredictor', in_channels=128, hid_channels=32, out_channels=128))
