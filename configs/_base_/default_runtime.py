# Runtime shared by every simsiam_mm config: mmpretrain's runtime, our registry scope and the collapse monitor.
_base_ = 'mmpretrain::_base_/default_runtime.py'

default_scope = 'simsiam_mm'
custom_imports = dict(imports=['simsiam_mm'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3),
)
# Logs z_std and z_std*sqrt(d) (≈1 healthy, →0 collapsed) and warns when it stays under `threshold`.
custom_hooks = [dict(type='CollapseMonitorHook', threshold=0.1, patience=20)]

# Inter-process backend: nccl on GPUs; tools/train.py switches to gloo where CUDA is absent.
env_cfg = dict(dist_cfg=dict(backend='nccl'))
