# Sec. 5.2's moving-average targets (m = 0.8) with SimSiam's predictor kept (not a row of the paper, which reports
# the variant without the predictor, 55.0): does the predictor still help when η is an average over augmentations?
model = dict(type='MovingAverageSimSiam', momentum=0.8, memory_size=None)
