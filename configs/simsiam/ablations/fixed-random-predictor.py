# Paper Table 1 "fixed random init.": h stays at its random initialisation (1.5).
model = dict(head=dict(freeze_predictor=True))
