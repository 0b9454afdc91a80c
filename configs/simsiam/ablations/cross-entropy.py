# Paper Table 4 "cross-entropy": D(p, z) = -softmax(z)·log softmax(p), softmax over channels (63.2; cosine 68.1).
model = dict(head=dict(loss=dict(_delete_=True, type='CrossEntropySimilarity')))
