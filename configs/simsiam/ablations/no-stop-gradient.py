# Paper Fig. 2 "w/o stop-grad": gradients reach the target branch; the output collapses (0.1 linear top-1,
# std of z/||z|| -> 0).
model = dict(head=dict(stop_gradient=False))
