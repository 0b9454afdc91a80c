"""Build a config's model for frozen-feature evaluation, from a checkpoint or at random initialisation."""
import logging
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import BaseModel, revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from simsiam_mm.quiet import logger_level


def build_frozen_model(cfg: Config, checkpoint: str, seed: int = 0) -> BaseModel:
    """The config's model in eval mode with ``checkpoint`` loaded, or randomly initialised (seeded) for 'random'.

    SyncBN becomes BN (single process); a top-level ``data_preprocessor`` is merged into the model as the Runner does.

    Examples:
        >>> # model = build_frozen_model(Config.fromfile('configs/simsiam/...py'), 'work_dirs/.../epoch_800.pth')
    """
    from simsiam_mm.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'simsiam_mm'))
    torch.manual_seed(seed)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = revert_sync_batchnorm(MODELS.build(model_cfg))
    if checkpoint == 'random':
        # without a Runner's log file, init_weights logs one INFO record per parameter: keep warnings only
        with logger_level(MMLogger.get_current_instance(), logging.WARNING):
            model.init_weights()
    else:
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
        load_checkpoint(model, checkpoint, map_location='cpu', strict=False, logger='silent')
    return model.eval()
