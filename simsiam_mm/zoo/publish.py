"""Publishing a training checkpoint for a model zoo, and verifying a published file.

Publishing keeps what a user of the weights needs and drops what only resuming needs:

- kept: ``state_dict`` and ``meta`` with the config text (``meta['cfg']``), epoch/iter, seed, experiment name,
  dataset meta, plus the versions of mmengine, mmpretrain, simsiam_mm and torch that published it;
- dropped: ``optimizer``, ``param_schedulers``, ``message_hub`` (and any other top-level entry).

The file is serialised in memory, hashed (sha256), written to a temporary file in the target folder and moved into
place with ``os.replace`` (atomic), under the OpenMMLab zoo name ``<name>-<first 8 hex of sha256>.pth``.
Verification re-hashes the file against its name and loads it, strictly, into the model built from the config it
carries.
"""
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import mmengine
import mmpretrain
import torch
from mmengine.config import Config

from simsiam_mm.checkpoint import atomic_write_bytes, read_checkpoint, serialize, state_dict_of
from simsiam_mm.errors import CheckpointError
from simsiam_mm.registry import SCOPE
from simsiam_mm.version import __version__
from simsiam_mm.zoo.model import build_model, load_strict
from simsiam_mm.zoo.report import ConversionError

#: meta entries worth publishing (mmengine's Runner writes these).
KEPT_META = ('cfg', 'epoch', 'iter', 'seed', 'experiment_name', 'time', 'dataset_meta', 'converted_from',
             'source_file', 'arch')
PUBLISHED_NAME = re.compile(r'^(?P<name>.+)-(?P<sha>[0-9a-f]{8})\.pth$')


class VerificationError(ConversionError):
    """A published file does not match its name or does not load into the model of its own config."""


@dataclass
class PublishResult:
    path: Path
    sha256: str
    kept_keys: int  # tensors in the state dict
    dropped: list[str]  # top-level entries removed


@dataclass
class VerifyResult:
    path: Path
    sha256: str
    num_tensors: int
    num_parameters: int
    meta: dict


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    return dict(mmengine_version=mmengine.__version__, mmpretrain_version=mmpretrain.__version__,
                simsiam_mm_version=__version__, torch_version=str(torch.__version__))


def model_of_config(cfg_text: str, state_dict: dict, source: str):
    """Build the model the config text describes and load ``state_dict`` into it whole (strict); raise
    :class:`~simsiam_mm.errors.CheckpointError` naming ``source`` when the weights are not that whole model (e.g. an
    extracted backbone: publish the training checkpoint instead)."""
    cfg = Config.fromstring(cfg_text, file_format='.py')
    model = build_model(cfg.model, scope=cfg.get('default_scope') or SCOPE)
    load_strict(model, state_dict, source)
    return model


def publish_checkpoint(src: str | Path, out: str | Path, config: str | None = None) -> PublishResult:
    """Write ``src`` stripped of training state as ``<out stem>-<sha8>.pth`` next to ``out``.

    Args:
        src: an mmengine checkpoint (``{'meta', 'state_dict', 'optimizer', ...}``).
        out: the output path without hash, e.g. ``zoo/simsiam_resnet50_8xb32-coslr-100e_in1k.pth``.
        config: a config file whose text replaces/provides ``meta['cfg']`` (for checkpoints that lack it).

    Raises:
        ConversionError: unreadable file, no tensors, or no config text to publish with.
    """
    ckpt = read_checkpoint(src)
    state_dict = {k: v.detach().cpu().contiguous() for k, v in state_dict_of(ckpt, str(src)).items()}
    meta = {k: v for k, v in (ckpt.get('meta') or {}).items() if k in KEPT_META}
    if config is not None:
        meta['cfg'] = Config.fromfile(config).pretty_text
    if not isinstance(meta.get('cfg'), str):
        raise ConversionError(f'{src}: meta has no config text (meta["cfg"]); pass the config it was trained with '
                              '(--config) so the published file can be verified')
    model_of_config(meta['cfg'], state_dict, str(src))  # what --verify will check: refuse now, not after publishing
    meta.update(versions())
    dropped = sorted(k for k in ckpt if k not in ('meta', 'state_dict'))
    data = serialize(dict(meta=meta, state_dict=state_dict))
    sha = hashlib.sha256(data).hexdigest()
    out = Path(out)
    stem = out.name[:-len('.pth')] if out.name.endswith('.pth') else out.name
    path = atomic_write_bytes(out.with_name(f'{stem}-{sha[:8]}.pth'), data)
    return PublishResult(path=path, sha256=sha, kept_keys=len(state_dict), dropped=dropped)


def verify_published(path: str | Path) -> VerifyResult:
    """Re-hash ``path`` against the ``-<sha8>`` in its name and strictly load it into its config's model.

    Raises:
        VerificationError: bad name, hash mismatch (corrupted or truncated file), unreadable file, no config, or
            a state dict that does not match the model of the config (missing/unexpected keys, shapes).
    """
    path = Path(path)
    match = PUBLISHED_NAME.match(path.name)
    if match is None:
        raise VerificationError(f'{path}: not a published name: expected <name>-<first 8 hex of sha256>.pth')
    if not path.is_file():
        raise VerificationError(f'{path}: no such file')
    sha = sha256_of(path)
    if sha[:8] != match.group('sha'):
        raise VerificationError(
            f'{path}: sha256 starts with {sha[:8]}, but the name says {match.group("sha")}: the file is corrupted or '
            f'truncated ({path.stat().st_size} bytes); download or publish it again')
    try:
        ckpt = read_checkpoint(path)
        meta = ckpt.get('meta') or {}
        if not isinstance(meta.get('cfg'), str):
            raise VerificationError(f'{path}: meta has no config text (meta["cfg"]) to build the model from')
        state_dict = state_dict_of(ckpt, str(path))
        model = model_of_config(meta['cfg'], state_dict, str(path))
    except CheckpointError as e:
        raise VerificationError(str(e)) from e
    return VerifyResult(path=path, sha256=sha, num_tensors=len(state_dict),
                        num_parameters=sum(p.numel() for p in model.parameters()),
                        meta={k: v for k, v in meta.items() if k != 'cfg'})
