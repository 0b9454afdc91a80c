"""RankMe during training: the effective rank of the backbone's pooled features and of z on a fixed buffer of
training images, logged beside z_std·√d, with a label-free diagnosis at the end of the run."""
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from mmengine.dataset import default_collate
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from simsiam_mm.evaluation.rank import Diagnosis, diagnose, effective_rank, plot_spectra, singular_values
from simsiam_mm.models.simsiam import collapse_std
from simsiam_mm.registry import HOOKS

LIST_OF_OUTPUTS_NECKS = {'SwAVNeck'}  # necks whose input is a list of backbone outputs (one per resolution)


@HOOKS.register_module()
class RankMeHook(Hook):
    """Every ``interval`` iterations, RankMe (:func:`~simsiam_mm.evaluation.rank.effective_rank`) of the backbone's
    global-average-pooled last stage and of the projection z, on ``num_images`` training images in eval mode.

    The buffer is ``num_images`` images spread evenly over the training set (folder datasets are sorted by class, so
    the first images would be one class), taken once before training, without augmentation: with
    :class:`~simsiam_mm.datasets.CachedDataset` and a ``BatchAugDataPreprocessor`` that makes the views
    (``crop_size``), the cached image resized to ``crop_size``; with a per-sample pipeline that makes views, its
    first view. Logged to the text log (one line with z_std·√d on the same buffer and on the last training batch) and
    to every visualization backend as ``rankme/backbone``, ``rankme/z`` and ``rankme/z_std_x_sqrt_d``. At the end:
    :func:`~simsiam_mm.evaluation.rank.diagnose` (healthy / dimensional / complete collapse, with what to try) in the
    log, ``<work_dir>/rankme.json`` (history, final spectra, diagnosis) and ``<work_dir>/spectrum.png``. Only the
    main process evaluates.

    Args:
        interval: iterations between evaluations (and one after the last iteration).
        num_images: buffer size (RankMe can not exceed it; >= d to measure z's rank fully).
        batch_size: images per forward pass.
    """

    priority = 'LOW'  # after the loss-side hooks; it logs at its own step, so the LoggerHook order is free

    def __init__(self, interval: int = 500, num_images: int = 1024, batch_size: int = 256) -> None:
        if interval < 1 or num_images < 2:
            raise ValueError(f'RankMeHook: interval must be >= 1 and num_images >= 2, got {interval}, {num_images}')
        self.interval, self.num_images, self.batch_size = interval, num_images, batch_size
        self.history: list[dict] = []
        self.spectra: dict[str, list[float]] = {}
        self.diagnosis: Diagnosis | None = None
        self._buffer: list[dict] | None = None

    # ------------------------------------------------------------------ the buffer
    def _build_buffer(self, runner) -> list[dict]:
        dataset = runner.train_dataloader.dataset
        n = len(dataset)
        step = max(1, n // self.num_images)
        items = []
        for index in range(0, n, step)[:self.num_images]:
            item = dict(dataset[index])
            if isinstance(item['inputs'], (list, tuple)):  # a per-sample pipeline's views: take the first
                item['inputs'] = item['inputs'][0]
            items.append(item)
        return [default_collate(items[i:i + self.batch_size]) for i in range(0, len(items), self.batch_size)]

    @torch.no_grad()
    def features(self, model) -> tuple[torch.Tensor, torch.Tensor]:
        """(N x C pooled backbone features, N x d projections z) of the buffer, in eval mode, float32."""
        was_training = model.training
        model.eval()
        pre = model.data_preprocessor
        size = getattr(pre, 'crop_size', None)
        pooled, zs = [], []
        try:
            for batch in self._buffer:
                x = pre(batch, False)['inputs']
                if size is not None and tuple(x.shape[-2:]) != (size, size):  # cached images -> the views' size
                    x = F.interpolate(x, size=(size, size), mode='bilinear', antialias=True, align_corners=False)
                stages = model.backbone(x)
                pooled.append(F.adaptive_avg_pool2d(stages[-1], 1).flatten(1).float())
                # mmpretrain's SwAVNeck takes one backbone output per crop resolution; its other necks (SimCLR,
                # MoCo v2, BYOL) return a 1-tuple
                z = model.neck([stages] if type(model.neck).__name__ in LIST_OF_OUTPUTS_NECKS else stages)
                zs.append((z[-1] if isinstance(z, (tuple, list)) else z).float())
        finally:
            model.train(was_training)
        return torch.cat(pooled), torch.cat(zs)

    def evaluate(self, runner, step: int) -> dict:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        if self._buffer is None:
            self._buffer = self._build_buffer(runner)
        pooled, z = self.features(model)
        sv_b, sv_z = singular_values(pooled), singular_values(z)
        record = dict(iter=step, rank_backbone=effective_rank(sigma=sv_b), dim_backbone=pooled.shape[1],
                      rank_z=effective_rank(sigma=sv_z), dim_z=z.shape[1],
                      z_std_x_sqrt_d=float(collapse_std(z)) * z.shape[1] ** 0.5, images=len(z))
        self.history.append(record)
        self.spectra = dict(backbone=[round(v, 6) for v in sv_b.tolist()], z=[round(v, 6) for v in sv_z.tolist()])
        runner.visualizer.add_scalars({'rankme/backbone': record['rank_backbone'], 'rankme/z': record['rank_z'],
                                       'rankme/z_std_x_sqrt_d': record['z_std_x_sqrt_d']}, step=step)
        key = 'train/z_std_x_sqrt_d'  # logged by our models, not by mmpretrain's (Table 4's comparison rows)
        batch = runner.message_hub.get_scalar(key) if step and key in runner.message_hub.log_scalars else None
        batch_txt = f', last batch {batch.current():.3f}' if batch is not None else ''
        print_log(f'RankMe after {step} iterations ({record["images"]} images): backbone '
                  f'{record["rank_backbone"]:.1f}/{record["dim_backbone"]}, z {record["rank_z"]:.1f}/{record["dim_z"]}'
                  f' | z_std*sqrt(d) {record["z_std_x_sqrt_d"]:.3f} (buffer){batch_txt}', logger='current')
        return record

    # ------------------------------------------------------------------ hook points
    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if is_main_process() and self.every_n_train_iters(runner, self.interval):
            self.evaluate(runner, runner.iter + 1)

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        if not self.history or self.history[-1]['iter'] != runner.iter:
            self.evaluate(runner, runner.iter)
        last = self.history[-1]
        self.diagnosis = diagnose(last['rank_z'], last['dim_z'], last['z_std_x_sqrt_d'], last['rank_backbone'],
                                  last['dim_backbone'])
        work_dir = Path(runner.work_dir)
        spectrum = plot_spectra(self.spectra, work_dir / 'spectrum.png',
                                f'after {last["iter"]} iterations: {self.diagnosis.headline}')
        (work_dir / 'rankme.json').write_text(json.dumps(dict(
            diagnosis=self.diagnosis.to_dict(), history=self.history, spectra=self.spectra)) + '\n')
        print_log(f'RankMeHook diagnosis after {last["iter"]} iterations: {self.diagnosis.summary()} '
                  f'Spectrum: {spectrum}; history: {work_dir / "rankme.json"}.', logger='current',
                  level=20 if self.diagnosis.state == 'healthy' else 30)
