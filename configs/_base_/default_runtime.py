# Runtime shared by every simsiam_mm config: mmpretrain's runtime, our registry scope and the collapse monitor.
_base_ = 'mmpretrain::_base_/default_runtime.py'

default_scope = 'simsiam_mm'
custom_imports = dict(imports=['simsiam_mm'], allow_failed_imports=False)

default_hooks = dict(
    # LoggerHook plus a first line (with the ETA) after iteration 1; then every `interval` iterations.
    logger=dict(_scope_='simsiam_mm', type='EarlyLoggerHook', interval=50),
    # Atomic files and exact resume, mid-epoch too (simsiam_mm.engine.ResumableCheckpointHook): a checkpoint holds
    # the model, optimizer, param schedulers, message hub and, in `resume_state`, the sampler seed, the dataset size
    # and the states of the model's own generators (BatchAugDataPreprocessor's, one per process); the sampler's
    # position follows from the iteration. A run that could not resume exactly is warned about at start-up. Long
    # epochs: save every N iterations with checkpoint=dict(interval=N, by_epoch=False). `_scope_` overrides the
    # 'mmpretrain' scope this dict inherits from mmpretrain's runtime.
    checkpoint=dict(_scope_='simsiam_mm', type='ResumableCheckpointHook', interval=10, max_keep_ckpts=3),
)
# Logs z_std and z_std*sqrt(d) (≈1 healthy, →0 collapsed) and warns when it stays under `threshold`.
# NonFiniteLossHook stops at the first NaN/Inf loss, before NaN weights reach a checkpoint.
custom_hooks = [
    dict(type='CollapseMonitorHook', threshold=0.1, patience=20),
    dict(type='NonFiniteLossHook'),
]

# Inter-process backend: nccl on GPUs; tools/train.py switches to gloo where CUDA is absent.
env_cfg = dict(dist_cfg=dict(backend='nccl'))
