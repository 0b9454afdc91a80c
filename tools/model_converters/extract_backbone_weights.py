"""Keep the ``backbone.*`` weights of a checkpoint (for mmdet, mmseg or mmpretrain classification).

    python tools/model_converters/extract_backbone_weights.py CKPT OUT [--strip-prefix]

With the prefix (default) the file suits ``init_cfg=dict(type='Pretrained', checkpoint=OUT, prefix='backbone.')``;
with ``--strip-prefix`` the keys are bare (``conv1.weight``), for ``backbone.init_cfg=dict(type='Pretrained',
checkpoint=OUT)``.
"""
import argparse
import sys

from simsiam_mm.checkpoint import save_atomic
from simsiam_mm.errors import add_debug_flag, cli_main
from simsiam_mm.zoo.resnet import extract_backbone_file


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint', help='a simsiam_mm (or any mmengine) checkpoint with backbone.* keys')
    parser.add_argument('out', help='output file')
    parser.add_argument('--strip-prefix', action='store_true',
                        help='write conv1.weight instead of backbone.conv1.weight')
    parser.add_argument('--allow-unexpected', action='store_true', help='drop keys outside backbone/neck/head')
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out, report = extract_backbone_file(args.checkpoint, args.strip_prefix, args.allow_unexpected)
    save_atomic(out, args.out)
    print(report.details())
    print(f'wrote {args.out} ({"bare keys" if args.strip_prefix else "backbone.* keys"})')
    return 0


if __name__ == '__main__':
    sys.exit(cli_main(main)())
