# Paper Sec. 5.2 "multi-step alternation", 1-step (68.1): the alternation machinery with k = 1, which is SimSiam
# itself (tests/test_hypothesis.py checks the step is the default one); a check of the machinery beside `baseline`.
model = dict(type='AlternatingSimSiam')
train_cfg = dict(type='AlternationLoop', steps=1)
