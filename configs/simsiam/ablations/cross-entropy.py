# Paper Sec. 4.5 (similarity function, an unnumbered table) "cross-entropy": D(p, z) = -softmax(z)·log softmax(p),
# softmax over channels (63.2; cosine 68.1).
model = dict(head=dict(loss=dict(_delete_=True, type='CrossEntropySimilarity')))
