"""Is 2-process DDP training the same as 1-process training at the same global batch? Prints the losses side by side.

Run (CPU, gloo)::

    torchrun --standalone --nproc_per_node=2 tools/analysis/ddp_equivalence.py --data /path/to/cifar10 --out eq.json

Both processes train a small SimSiam (ResNet-18-CIFAR at 1/8 width, the real SimSiam projector/predictor/loss) for
``--steps`` SGD steps on their half of each global batch of real CIFAR-10 images, wrapped in mmengine's
``MMDistributedDataParallel`` (gradients averaged over the processes), twice: with :class:`CPUSyncBatchNorm`
(statistics over the global batch, as SyncBN on GPUs) and with plain BatchNorm (statistics per process). Rank 0 then
trains the same model in one process on the whole global batch with plain BatchNorm, the reference. Views are fixed
(the image and its mirror), so the only differences are the ones under test: how BN and gradients are reduced.
The 1-process loss is the mean over the global batch; the DDP loss reported is the mean of the per-process losses,
the same quantity when the halves are equal.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from mmengine.logging import MMLogger
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample
from PIL import Image

import simsiam_mm  # noqa: F401  (registers CPUSyncBN and the SimSiam parts)
from simsiam_mm.errors import add_debug_flag, cli_main
from simsiam_mm.registry import MODELS


def build_model(norm: str, seed: int = 0) -> torch.nn.Module:
    """Tiny SimSiam with ``norm`` ('CPUSyncBN' or 'BN') everywhere; identical weights for a given seed."""
    init_default_scope('simsiam_mm')
    norm2d = dict(type=norm)
    norm1d = dict(type='BN1d' if norm == 'BN' else norm)
    torch.manual_seed(seed)
    model = MODELS.build(dict(
        type='SimSiam',
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[125.3, 123.0, 113.9], std=[63.0, 62.1, 66.7],
                               to_rgb=True),
        backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8, stem_channels=8, norm_cfg=norm2d),
        neck=dict(type='SimSiamProjector', in_channels=64, hid_channels=64, out_channels=64, num_layers=2,
                  norm_cfg=norm1d),
        head=dict(type='SimSiamHead', loss=dict(type='NegativeCosineSimilarity'), predictor=dict(
            type='SimSiamPredictor', in_channels=64, hid_channels=16, out_channels=64, norm_cfg=norm1d))))
    model.init_weights()
    return model


def load_images(root: Path, n: int) -> torch.Tensor:
    """The first ``n`` training images (sorted paths, all classes), Nx3x32x32 uint8 in BGR order."""
    paths = sorted((root / 'train').glob('*/*.jpg'))[::max(1, 50000 // n)][:n]
    return torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert('RGB'))[..., ::-1].copy()).permute(2, 0, 1)
                        for p in paths])


def batch(images: torch.Tensor) -> dict:
    return dict(inputs=[images, images.flip(-1)], data_samples=[DataSample() for _ in images])  # two fixed views


def train(model: torch.nn.Module, images: torch.Tensor, steps: int, global_batch: int, rank: int, world: int,
          lr: float) -> list[float]:
    """``steps`` SGD steps; step k uses global batch k, of which this process takes its contiguous share."""
    wrapped = MMDistributedDataParallel(model, device_ids=None, broadcast_buffers=False) if world > 1 else model
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4))
    share = global_batch // world
    losses = []
    for k in range(steps):
        start = k * global_batch + rank * share
        log = wrapped.train_step(batch(images[start:start + share]), optim_wrapper=optim)
        loss = log['loss'].detach().clone()
        if world > 1:
            dist.all_reduce(loss)
            loss /= world
        losses.append(loss.item())
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', type=Path, required=True, help='CIFAR-10 folders: DATA/train/<class>/*.jpg')
    parser.add_argument('--out', type=Path, help='write the loss sequences as JSON here (rank 0)')
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--global-batch', type=int, default=16)
    parser.add_argument('--lr', type=float, default=0.05)
    add_debug_flag(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    MMLogger.get_instance('ddp_equivalence', log_level='WARNING')  # quiet init_weights reports
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    images = load_images(args.data, args.steps * args.global_batch)
    result = {f'ddp{world}_syncbn': train(build_model('CPUSyncBN'), images, args.steps, args.global_batch, rank,
                                          world, args.lr),
              f'ddp{world}_bn': train(build_model('BN'), images, args.steps, args.global_batch, rank, world, args.lr)}
    if rank == 0:
        result['single_bn'] = train(build_model('BN'), images, args.steps, args.global_batch, 0, 1, args.lr)
        names = ['single_bn', f'ddp{world}_syncbn', f'ddp{world}_bn']
        print(f'global batch {args.global_batch}, {world} processes x {args.global_batch // world}')
        print('step  ' + '  '.join(f'{n:>22}' for n in names) + '  |sync-single|  |bn-single|')
        for k in range(args.steps):
            row = [result[n][k] for n in names]
            print(f'{k + 1:4d}  ' + '  '.join(f'{v:22.15f}' for v in row)
                  + f'  {abs(row[1] - row[0]):12.3e}  {abs(row[2] - row[0]):10.3e}')
        if args.out:
            args.out.write_text(json.dumps(result, indent=1))
    dist.destroy_process_group()


if __name__ == '__main__':
    cli_main(main)()
