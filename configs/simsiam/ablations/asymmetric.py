# Paper Sec. 4.6 (symmetrization, an unnumbered table) "asym.": only D(p1, stopgrad(z2)) (64.8; symmetric 68.1).
model = dict(head=dict(symmetric=False))
