# Paper Sec. 6.2 (ImageNet linear, 100 ep: SimCLR + prediction MLP and stop-gradient 66.0): compare-simclr-predictor
# with the keys z as constants (stop_gradient), SimCLRWithPredictor (simsiam_mm/models/relations.py).
_base_ = './compare-simclr-predictor.py'
model = dict(stop_gradient=True)
