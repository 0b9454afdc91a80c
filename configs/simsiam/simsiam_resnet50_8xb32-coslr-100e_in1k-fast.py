# SimSiam ResNet-50, ImageNet-1k, batch 256, 100 epochs, with the fast path: the same math as the base config, each
# switch on its own line (docs/performance.md measures each one against mmpretrain's SimSiam).
_base_ = './simsiam_resnet50_8xb32-coslr-100e_in1k.py'

model = dict(data_preprocessor=dict(type='SimSiamDataPreprocessor', channels_last=True))  # NHWC views
optim_wrapper = dict(
    type='AutocastOptimWrapper', dtype='bfloat16',  # bf16 autocast, fp32 master weights (CPU and GPU)
    optimizer=dict(foreach=True))  # multi-tensor SGD update
train_dataloader = dict(persistent_workers=True, prefetch_factor=4, pin_memory=True)  # keep the step fed
compile = False  # True: torch.compile(model.train_step), mmengine's option (slow first iterations; see docs)
