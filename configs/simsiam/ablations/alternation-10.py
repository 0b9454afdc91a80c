# Paper Sec. 5.2 "multi-step alternation", 10-step: the targets η of the next k SGD steps come from one no-grad pass
# of the network at the start of each alternation (AlternatingSimSiam + AlternationLoop, models/hypothesis.py).
# Paper (ImageNet linear, 100 ep): 1-step 68.1 (= SimSiam, row baseline), 10-step 68.7, 100-step 68.9, 1-epoch 67.0.
model = dict(type='AlternatingSimSiam')
train_cfg = dict(type='AlternationLoop', steps=10)
