"""The paper's experiments as data: every table of Chen & He (CVPR 2021, arXiv 2011.10566) the ablation runner
(``tools/analysis/ablations.py``) can rerun, its rows and the paper's numbers, and the budgets they run at.

A row is a delta config in ``configs/simsiam/ablations/`` merged onto a budget's recipe. Paper values are ImageNet
linear top-1 (%) after 100-epoch pretraining, by section: Fig. 2 / Sec. 4.1 (stop-gradient), Table 1 / Sec. 4.2
(predictor), Table 2 / Sec. 4.3 (batch size), Table 3 / Sec. 4.4 (BN), Sec. 4.5 and 4.6 (similarity,
symmetrization: unnumbered tables), Sec. 5.2 (the hypothesis' proof of concept), Table 4 (the method comparison),
Sec. 6.2 (SimCLR and SwAV with SimSiam's parts) and Appendix B (output dimension). ``None``: the paper gives no number
(e.g. Table 3 "all": "unstable"). The values are those filed in issue 24 from the paper's full text;
docs/ablations.md says which could be checked.
"""
from dataclasses import dataclass

from simsiam_mm.errors import ConfigError

# The linear probe of the paper's protocol (Sec. 4 / Appendix: LARS, batch 4096, 90 epochs), used to score runs at
# the ImageNet budget (a path from the repository root; tests/test_ablations.py checks it exists and takes the
# runner's --cfg-options).
LINEAR_PROBE = 'benchmarks/classification/imagenet/resnet50_linear-8xb512-lars-coslr-90e_in1k.py'

PAPER_BATCH = {64: 66.1, 128: 67.3, 256: 68.1, 512: 68.1, 1024: 68.0, 2048: 67.9, 4096: 64.0}  # Table 2
PAPER_DIM = {256: 65.3, 512: 67.2, 1024: 67.5, 2048: 68.1}  # Appendix B: output dimension d, predictor hidden d/4
WARMUP_FROM_BATCH, WARMUP_FRACTION = 1024, 0.1  # Sec. 4.3: 10 of 100 epochs warm-up for batch >= 1024
# SwAV's prototypes stay frozen for its first epoch (mmpretrain: 5005 iterations, 1 ImageNet epoch at batch 256):
# 1 of the paper's 100 epochs, kept as that fraction of the schedule at every budget.
FREEZE_FRACTION = 0.01
QUICK = 'simsiam_resnet18-cifar_1xb32-coslr-1e-2k_cifar10-quick.py'
SHORT_32PX = 'simsiam_resnet18-w16_1xb64-coslr-6k_imagefolder-32px-cpu.py'
_CIFAR_ROOT = 'train_dataloader.dataset.data_root'

# The budgets: the recipe a row is merged onto, what the runner changes in it, where the data root goes, the
# evaluation ('knn': arguments of tools/analysis/knn_eval.py; 'linear': LINEAR_PROBE), the recipe's total batch and
# Table 2's batch grid,
# Appendix B's dimensions (paper d; scaled by the recipe's d / 2048) and the training images (Sec. 5.2's memory).
BUDGETS: dict[str, dict] = {
    'smoke': dict(
        config=QUICK, data_root='data/cifar10', root_key=_CIFAR_ROOT, batch=8, batch_sizes=(4, 8), dims=(256, 2048),
        num_train=32, eval='knn',
        options={'train_dataloader.dataset.indices': 32, 'train_dataloader.batch_size': 8,
                 'optim_wrapper.optimizer.lr': 0.03 * 8 / 256, 'auto_scale_lr.base_batch_size': 8,
                 'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
                 'default_hooks.logger.interval': 1, 'model.backbone.base_channels': 8,
                 'model.backbone.stem_channels': 8, 'model.neck.in_channels': 64, 'model.neck.hid_channels': 64},
        knn=['--num-per-class-train', '2', '--num-per-class-val', '2', '--num-workers', '0'],
        note='pipeline check for the tests: ResNet-18-CIFAR at width 8, 4 iterations of batch 8 on 32 images'),
    'cpu-tiny': dict(  # the 32 px short recipe (docs/short_recipe.md) at width 8 and batch 32, 50 iterations
        config=SHORT_32PX, data_root='data/cifar10', root_key='train_dataloader.dataset.dataset.data_root',
        batch=32, batch_sizes=(16, 32, 64), dims=(512, 1024, 2048), num_train=1600, eval='knn',
        options={'train_dataloader.dataset.dataset.indices': 1600, 'train_cfg.max_iters': 50,
                 'train_dataloader.batch_size': 32, 'optim_wrapper.optimizer.lr': 0.5 * 32 / 256,
                 'auto_scale_lr.base_batch_size': 32,
                 'model.backbone.base_channels': 8, 'model.backbone.stem_channels': 8, 'model.neck.in_channels': 64,
                 'default_hooks.logger.interval': 5, 'default_hooks.checkpoint.interval': 50,
                 'param_scheduler': [
                     dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=3),
                     dict(type='CosineAnnealingLR', T_max=47, by_epoch=False, begin=3, end=50)]},
        knn=['--num-per-class-train', '100', '--num-per-class-val', '100', '--num-workers', '0'],
        note=('the 32 px short CPU recipe (ResNet-18, d 512, images cached, bf16) at width 8 and batch 32 (lr '
              '0.0625), cut to 50 iterations (3 warm-up, cosine) on the first 1,600 training images: what a 2-core '
              'machine at load ~27 runs in minutes per row')),
    'cpu-short': dict(  # the learning-evidence recipe (docs/collapse_evidence.md), cut to 400 iterations
        config=QUICK, data_root='data/cifar10', root_key=_CIFAR_ROOT, batch=32, batch_sizes=(16, 32, 64, 128, 256),
        dims=(256, 512, 1024, 2048), num_train=12800, eval='knn',
        options={'default_hooks.logger.interval': 20, 'model.backbone.base_channels': 16,
                 'model.backbone.stem_channels': 16, 'model.neck.in_channels': 128,
                 'train_dataloader.dataset.indices': 12800,  # one epoch of 400 iterations at batch 32
                 'optim_wrapper.optimizer.lr': 0.5, 'optim_wrapper.optimizer.weight_decay': 5e-4,
                 'param_scheduler': [
                     dict(type='LinearLR', start_factor=0.02, by_epoch=False, begin=0, end=20),
                     dict(type='CosineAnnealingLR', T_max=380, by_epoch=False, begin=20, end=400)]},
        knn=['--num-per-class-train', '300', '--num-per-class-val', '200', '--num-workers', '1'],
        note=('ResNet-18-CIFAR at width 16, 400 iterations of batch 32 on 12,800 CIFAR-10 images, lr 0.5 (20 '
              'warm-up iterations, then cosine), wd 5e-4: minutes per row on 2 CPU cores')),
    'cifar-800e': dict(
        config='simsiam_resnet18-cifar_1xb512-coslr-800e_cifar10.py', data_root='data/cifar10', root_key=_CIFAR_ROOT,
        batch=512, batch_sizes=tuple(PAPER_BATCH), dims=tuple(PAPER_DIM), num_train=50000, eval='knn', options={},
        knn=[],
        note="the paper's CIFAR-10 recipe: ResNet-18-CIFAR, 800 epochs at batch 512"),
    'in1k-100e': dict(
        config='simsiam_resnet50_8xb32-coslr-100e_in1k.py', data_root='data/imagenet', root_key=_CIFAR_ROOT,
        batch=256, batch_sizes=tuple(PAPER_BATCH), dims=tuple(PAPER_DIM), num_train=1281167, eval='linear',
        options={}, knn=[], note="the paper's ImageNet setting: ResNet-50, 100 epochs at batch 256; the linear probe"),
}


@dataclass
class Row:
    name: str  # as the paper names it
    config: str  # file stem under configs/simsiam/ablations/
    paper: float | None  # ImageNet linear top-1 (%), 100 epochs; None: no number in the paper
    batch_size: int | None = None  # Table 2: total batch
    out_dim: int | None = None  # Appendix B: the paper's d (scaled to the budget's recipe)

    @property
    def run(self) -> str:
        suffix = (f'-batch{self.batch_size}' if self.batch_size else '') + (f'-dim{self.out_dim}' if self.out_dim
                                                                          else '')
        return self.config + suffix


TABLES: dict[str, tuple[str, list[Row]]] = {
    'fig2': ('Fig. 2 (Sec. 4.1): stop-gradient, predictor lr decayed',
             [Row('w/ stop-grad', 'predictor-lr-decayed', 67.7), Row('w/o stop-grad', 'no-stop-gradient', 0.1)]),
    '1': ('Table 1 (Sec. 4.2): predictor', [Row('no pred. MLP', 'no-predictor', 0.1),
                                            Row('fixed random init.', 'fixed-random-predictor', 1.5),
                                            Row('lr with cosine decay', 'predictor-lr-decayed', 67.7),
                                            Row('lr not decayed (default)', 'baseline', 68.1)]),
    '2': ('Table 2 (Sec. 4.3): batch size (SGD at every size, lr = base x B / 256)', []),  # rows: the budget's grid
    '3': ('Table 3 (Sec. 4.4): BN in the MLP heads', [Row('none (with warm-up)', 'bn-none', 34.6),
                                                      Row('hidden only', 'bn-hidden-only', 67.4),
                                                      Row('hidden + projector output (default)', 'baseline', 68.1),
                                                      Row('all: also predictor output ("unstable")', 'bn-all',
                                                          None)]),
    'sec4.5': ('Sec. 4.5: similarity function', [Row('cosine (default)', 'baseline', 68.1),
                                                  Row('cross-entropy', 'cross-entropy', 63.2)]),
    'sec4.6': ('Sec. 4.6: symmetrization', [Row('sym. (default)', 'baseline', 68.1),
                                             Row('asym.', 'asymmetric', 64.8),
                                             Row('asym. 2x', 'asymmetric-2x', 67.3)]),
    'sec5.2-steps': ('Sec. 5.2: multi-step alternation (cached targets, k SGD steps each)',
                     [Row('1-step (= SimSiam)', 'baseline', 68.1),
                      Row('1-step through the alternation loop (= SimSiam if the recipe is iteration-based)',
                          'alternation-1', 68.1),
                      Row('10-step', 'alternation-10', 68.7),
                      Row('100-step', 'alternation-100', 68.9), Row('1-epoch', 'alternation-epoch', 67.0)]),
    'sec5.2-average': ('Sec. 5.2: expectation over augmentations (moving average, m = 0.8)',
                       [Row('SimSiam (predictor)', 'baseline', 68.1),
                        Row('moving average, no predictor', 'moving-average', 55.0),
                        Row('no predictor, no moving average', 'no-predictor', 0.1),
                        Row('moving average + predictor (not in the paper)', 'moving-average-predictor', None)]),
    'appB': ('Appendix B: output dimension d (predictor hidden d/4)', []),  # rows: the budget's dims
    '4': ('Table 4: method comparison (mmpretrain recipes, two views)',
          [Row('SimSiam (paper lr 0.05 x B / 256)', 'simsiam-paper-lr', 68.1),
           Row('SimSiam (budget lr)', 'baseline', 68.1), Row('SimCLR', 'compare-simclr', 66.5),
           Row('MoCo v2', 'compare-mocov2', 67.4), Row('BYOL', 'compare-byol', 66.5),
           Row('SwAV (two views, no multi-crop)', 'compare-swav', 66.5)]),
    'sec6.2': ('Sec. 6.2: SimCLR with SimSiam\'s predictor and stop-gradient',
               [Row('SimCLR', 'compare-simclr', 66.5), Row('+ prediction MLP', 'compare-simclr-predictor', 66.4),
                Row('+ prediction MLP and stop-grad', 'compare-simclr-predictor-stopgrad', 66.0)]),
    'sec6.2-swav': ('Sec. 6.2: SwAV with SimSiam\'s predictor, and without stop-gradient (two views, no queue)',
                    [Row('SwAV', 'compare-swav', 66.5), Row('+ prediction MLP', 'compare-swav-predictor', 65.2),
                     Row('remove stop-grad ("NaN")', 'compare-swav-no-stopgrad', None)]),
}


def rows_of(table: str, budget: dict) -> list[Row]:
    """The rows of a table at a budget (Table 2 and Appendix B take theirs from the budget's grid)."""
    if table == '2':  # the recipe's own batch is the baseline run itself
        return [Row(f'batch {b}', 'baseline', PAPER_BATCH.get(b), batch_size=None if b == budget['batch'] else b)
                for b in budget['batch_sizes']]
    if table == 'appB':  # d = 2048 is the recipe's own d (the others are scaled relative to it)
        return [Row(f'd = {d}', 'baseline', PAPER_DIM.get(d), out_dim=None if d == 2048 else d)
                for d in budget['dims']]
    return TABLES[table][1]


# ---------------------------------------------------------------- the paper's rules, applied to a merged config
def warm_up(cfg, fraction: float) -> None:
    """A linear warm-up over the first ``fraction`` of the schedule, then the recipe's last (cosine) scheduler."""
    cosine = cfg.param_scheduler[-1]
    end, by_epoch = cosine['end'], cosine.get('by_epoch', True)
    warm = max(1, round(fraction * end))
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=by_epoch, begin=0, end=warm),
                           dict(cosine, T_max=end - warm, begin=warm)]


def set_batch_size(cfg, batch: int, gpus: int) -> None:
    """Total batch ``batch`` over ``gpus`` processes, lr scaled linearly from the recipe's (whose total batch is
    ``auto_scale_lr.base_batch_size``), the same number of epochs (an iteration-based schedule is rescaled), SGD at
    every size and a warm-up for large batches, as in the paper (Sec. 4.3)."""
    base = cfg.auto_scale_lr.base_batch_size
    if batch % gpus:
        raise ConfigError(f'--gpus {gpus}: batch {batch} of Table 2 does not split evenly over the processes')
    if cfg.optim_wrapper.optimizer.type != 'SGD':
        raise ConfigError(f'Table 2 uses SGD at every batch size; the recipe has {cfg.optim_wrapper.optimizer.type}')
    cfg.train_dataloader.batch_size = batch // gpus
    cfg.optim_wrapper.optimizer.lr = cfg.optim_wrapper.optimizer.lr * batch / base
    cfg.auto_scale_lr.base_batch_size = batch
    if 'max_iters' in cfg.train_cfg:  # same epochs: iterations x base / batch
        scale = base / batch
        cfg.train_cfg.max_iters = max(1, round(cfg.train_cfg.max_iters * scale))
        for sched in cfg.param_scheduler:
            for key in ('begin', 'end', 'T_max'):
                if key in sched:
                    sched[key] = max(1, round(sched[key] * scale)) if sched[key] else 0
        if 'interval' in cfg.default_hooks.checkpoint:
            cfg.default_hooks.checkpoint.interval = cfg.train_cfg.max_iters
    if batch >= WARMUP_FROM_BATCH:
        warm_up(cfg, WARMUP_FRACTION)


def set_out_dim(cfg, d: int) -> None:
    """Appendix B: projector output d (the paper's value scaled by the recipe's d / 2048), predictor hidden d/4."""
    scaled = max(4, round(d * cfg.model.neck.out_channels / 2048))
    cfg.model.neck.out_channels = scaled
    cfg.model.head.predictor.update(in_channels=scaled, hid_channels=scaled // 4, out_channels=scaled)
