# SimSiam itself: the row every table compares against (paper Sec. 4, 68.1 ImageNet linear top-1 at 100 epochs).
# Rows are deltas: tools/analysis/ablations.py merges one onto a budget's full config (a recipe under
# configs/simsiam/) and writes the merged config it trains. This one changes nothing.
