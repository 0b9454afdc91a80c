# Paper Sec. 5.2 "expectation over augmentations": no predictor; F(T(x)) is trained toward a per-image moving
# average η_x <- m·η_x + (1 - m)·F(T'(x)), m = 0.8 (55.0; without the predictor and the moving average: 0.1, the row
# `no-predictor`). MovingAverageSimSiam, simsiam_mm/models/hypothesis.py; the runner sets memory_size to the budget's
# number of training images.
model = dict(type='MovingAverageSimSiam', momentum=0.8, memory_size=None, head=dict(predictor=None))
