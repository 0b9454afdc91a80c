"""Build a config's model for frozen-feature evaluation, from a checkpoint or at random initialisation."""
import logging

from mmengine.config import Config
from mmengine.logging import MMLogger, print_log
from mmengine.model import BaseModel, revert_sync_batchnorm
from mmengine.registry import init_default_scope

from simsiam_mm.checkpoint import load_pretrained
from simsiam_mm.quiet import logger_level


def build_frozen_model(cfg: Config, checkpoint: str, seed: int = 0) -> BaseModel:
    """The config's model in eval mode with ``checkpoint``'s backbone loaded, or randomly initialised for 'random'.

    The backbone goes through the project's one weights check (:func:`simsiam_mm.checkpoint.load_pretrained`): a
    checkpoint of another architecture, without the ``backbone.`` prefix or in a foreign format is refused, naming
    the file, the tensors that matched and the fix, before any feature is extracted. SyncBN becomes BN (single
    process); a top-level ``data_preprocessor`` is merged into the model as the Runner does.

    Examples:
        >>> # model = build_frozen_model(Config.fromfile('configs/simsiam/...py'), 'work_dirs/.../epoch_800.pth')
    """
    import torch

    from simsiam_mm.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'simsiam_mm'))
    torch.manual_seed(seed)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = revert_sync_batchnorm(MODELS.build(model_cfg))
    # without a Runner's log file, init_weights logs one INFO record per parameter: keep warnings only
    with logger_level(MMLogger.get_current_instance(), logging.WARNING):
        model.init_weights()
    if checkpoint != 'random':
        check = load_pretrained(model.backbone, checkpoint)
        print_log(f'{checkpoint}: {check.summary()}', logger='current')
    return model.eval()
