# Paper Table 5 "asym.": only D(p1, stopgrad(z2)) (64.8; symmetric 68.1).
model = dict(head=dict(symmetric=False))
