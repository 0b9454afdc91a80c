"""facebookresearch/simsiam checkpoints <-> simsiam_mm full models (backbone, projector, predictor).

The official ``main_simsiam.py`` saves ``{'epoch', 'arch', 'state_dict', 'optimizer'}`` from a DDP model, so its
keys are ``module.encoder.*`` (a torchvision ResNet whose ``fc`` is the projector) and ``module.predictor.*``.
``builder.py`` builds the projector as ``encoder.fc = [Linear(no bias), BN, ReLU, Linear(no bias), BN, ReLU,
Linear, BN(affine=False)]`` and freezes the bias of ``fc[6]`` ("not use bias as followed by BN"). The frozen bias
keeps its random initial value, so it is not zero in released checkpoints.

Our projector's output fc has no bias. A bias b followed by a BN is equivalent to shifting that BN's running mean:
in eval mode BN(x + b) = (x + b - mean) / sqrt(var + eps) = (x - (mean - b)) / sqrt(var + eps), and in train mode BN
subtracts the batch mean, which absorbs b. So official -> ours folds it: ``running_mean_ours = running_mean_official
- bias`` (eval-mode outputs are equal), and ours -> official writes a zero bias. ours -> official -> ours is the
identity; official -> ours -> official equals the original up to that fold (same function, bias moved).
"""
import re
from pathlib import Path

import torch
from torch import Tensor

from simsiam_mm.zoo.model import build_model, infer_model_cfg, load_strict
from simsiam_mm.zoo.report import ConversionError, ConversionReport, check_shape
from simsiam_mm.zoo.resnet import infer_resnet_arch, split_backbone

_FC_BIAS = re.compile(r'encoder\.fc\.(\d+)\.bias$')


def official_to_simsiam_mm(state_dict: dict[str, Tensor], source: str = 'checkpoint',
                           allow_unexpected: bool = False) -> tuple[dict[str, Tensor], ConversionReport]:
    """Map ``module.encoder.*`` -> ``backbone.*`` / ``neck.mlp.*`` and ``module.predictor.*`` ->
    ``head.predictor.mlp.*``, folding the projector's fc bias into the following BN's running mean.

    Examples:
        >>> sd = {'module.encoder.conv1.weight': torch.ones(1), 'module.predictor.3.bias': torch.ones(1)}
        >>> ours, report = official_to_simsiam_mm(sd)
        >>> sorted(ours)
        ['backbone.conv1.weight', 'head.predictor.mlp.3.bias']
    """
    refuse_own_format(state_dict, source)
    report = ConversionReport('official -> simsiam_mm')
    out: dict[str, Tensor] = {}
    folds: dict[str, tuple[str, Tensor]] = {}  # our BN running_mean key -> (official bias key, bias)
    for key, value in state_dict.items():
        k = key[len('module.'):] if key.startswith('module.') else key
        if (m := _FC_BIAS.match(k)) and state_dict.get(key[:-len('bias')] + 'weight', value).dim() == 2:
            i = int(m.group(1))  # a Linear's bias inside the projector: ours has none, fold it into the next BN
            bn_mean = f'neck.mlp.{i + 1}.running_mean'
            if key[:-len(f'{i}.bias')] + f'{i + 1}.running_mean' not in state_dict:
                raise ConversionError(f'{source}: {key} is a projector fc bias not followed by a BatchNorm; '
                                      'simsiam_mm projector fc layers have no bias, so it cannot be carried over')
            folds[bn_mean] = (key, value)
            report.skipped.append((key, f'folded into {bn_mean}'))
            continue
        if k.startswith('encoder.fc.'):
            target = 'neck.mlp.' + k[len('encoder.fc.'):]  # same layer indices as the official fc
        elif k.startswith('encoder.'):
            target = 'backbone.' + k[len('encoder.'):]  # torchvision ResNet names = mmpretrain ResNet names
        elif k.startswith('predictor.'):
            target = 'head.predictor.mlp.' + k[len('predictor.'):]
        else:
            report.unexpected.append(key)
            continue
        out[target] = value
        report.converted.append((key, target))
    for bn_mean, (bias_key, bias) in folds.items():
        check_shape(source, bias_key, bias, tuple(out[bn_mean].shape), bn_mean)
        out[bn_mean] = out[bn_mean] - bias  # eval: BN(x + b) with mean m == BN(x) with mean m - b
    report.check_unexpected(source, allow_unexpected)
    split_backbone(out, source)  # refuses a checkpoint without encoder (backbone) keys
    return out, report


def refuse_own_format(state_dict: dict[str, Tensor], source: str) -> None:
    """A simsiam_mm checkpoint given to the official -> simsiam_mm converter: say so (every key would otherwise be
    'unexpected', and dropping them leaves nothing)."""
    official = any(k.startswith(('module.encoder.', 'encoder.', 'module.predictor.', 'predictor.')) for k in state_dict)
    if not official and any(k.startswith(('backbone.', 'neck.mlp.', 'head.predictor.')) for k in state_dict):
        raise ConversionError(f'{source}: is already a simsiam_mm checkpoint (backbone.* / neck.* / head.* keys), '
                              'not an official facebookresearch/simsiam one — use it as it is; to go the other way '
                              'run tools/model_converters/simsiam_mm_to_official.py.')


def simsiam_mm_to_official(state_dict: dict[str, Tensor], source: str = 'checkpoint',
                           allow_unexpected: bool = False) -> tuple[dict[str, Tensor], ConversionReport]:
    """The inverse map; the projector's output fc gets the zero bias the official architecture has a slot for."""
    report = ConversionReport('simsiam_mm -> official')
    split_backbone(state_dict, source)  # refuses a checkpoint without backbone keys
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith('backbone.'):
            target = 'module.encoder.' + key[len('backbone.'):]
        elif key.startswith('neck.mlp.'):
            target = 'module.encoder.fc.' + key[len('neck.mlp.'):]
        elif key.startswith('head.predictor.mlp.'):
            target = 'module.predictor.' + key[len('head.predictor.mlp.'):]
        elif key.startswith('data_preprocessor.'):
            report.skipped.append((key, 'not part of the official model'))
            continue
        else:
            report.unexpected.append(key)
            continue
        out[target] = value
        report.converted.append((key, target))
    report.check_unexpected(source, allow_unexpected)
    linears = sorted(int(k.split('.')[3]) for k, v in out.items()
                     if re.fullmatch(r'module\.encoder\.fc\.\d+\.weight', k) and v.dim() == 2)
    if not linears or not any(k.startswith('module.predictor.') for k in out):
        raise ConversionError(f'{source}: the official format needs the projector (neck.mlp.*) and the predictor '
                              '(head.predictor.mlp.*); a backbone-only checkpoint cannot be written as one')
    last = linears[-1]
    bias_key = f'module.encoder.fc.{last}.bias'
    out[bias_key] = torch.zeros(out[f'module.encoder.fc.{last}.weight'].shape[0])  # frozen, "followed by BN"
    report.added.append((bias_key, 'zero: the official frozen fc bias; ours folds it into the BN running mean'))
    return out, report


def convert_official_file(src: str | Path, allow_unexpected: bool = False,
                          config: str | None = None) -> tuple[dict, ConversionReport]:
    """Read an official checkpoint and return an mmengine-style ``{'meta', 'state_dict'}`` plus the report.

    The result loads strictly into the simsiam_mm model its shapes describe (checked here), or, with ``config``,
    into ``config``'s model, whose text is then kept in ``meta['cfg']`` (so the file can be published and verified).
    """
    from mmengine.config import Config

    from simsiam_mm.checkpoint import read_checkpoint, state_dict_of
    ckpt = read_checkpoint(src)
    state_dict, report = official_to_simsiam_mm(state_dict_of(ckpt, str(src)), str(src), allow_unexpected)
    meta = dict(converted_from='facebookresearch/simsiam', source_file=Path(src).name, epoch=ckpt.get('epoch'),
                arch=ckpt.get('arch'))
    if config is not None:
        cfg = Config.fromfile(config)
        load_strict(build_model(cfg.model), state_dict, f'{src} (against {config})')
        meta['cfg'] = cfg.pretty_text
    else:
        load_strict(build_model(infer_model_cfg(state_dict, str(src))), state_dict, str(src))
    return dict(meta=meta, state_dict=state_dict), report


def convert_to_official_file(src: str | Path, allow_unexpected: bool = False) -> tuple[dict, ConversionReport]:
    """Read a simsiam_mm checkpoint and return ``{'epoch', 'arch', 'state_dict'}`` as ``main_simsiam.py`` saves it
    (``main_lincls.py --pretrained`` reads ``state_dict``'s ``module.encoder.*``)."""
    from simsiam_mm.checkpoint import read_checkpoint, state_dict_of
    ckpt = read_checkpoint(src)
    ours = state_dict_of(ckpt, str(src))
    load_strict(build_model(infer_model_cfg(ours, str(src))), ours, str(src))  # a consistent full model
    state_dict, report = simsiam_mm_to_official(ours, str(src), allow_unexpected)
    arch = infer_resnet_arch(split_backbone(ours, str(src)), str(src))
    epoch = (ckpt.get('meta') or {}).get('epoch', 0)
    return dict(epoch=epoch, arch=f'resnet{arch.depth}', state_dict=state_dict), report
