"""Convert the backbone of a simsiam_mm checkpoint to detectron2's pickle format (MoCo's conventions).

    python tools/model_converters/simsiam_mm_to_detectron2.py CKPT OUT.pkl

Keys become stem.*, res2..res5.*, convN.norm, shortcut(.norm); the file is {"model": numpy arrays, "__author__":
"simsiam_mm", "matching_heuristics": True}. Use it as MODEL.WEIGHTS with MoCo's detection configs (RGB input,
RESNETS.STRIDE_IN_1X1: False). A ResNet_CIFAR backbone is refused (detectron2's stem is 7x7 + max-pool).
"""
import argparse
import pickle
import sys

from simsiam_mm.checkpoint import atomic_write_bytes
from simsiam_mm.errors import add_debug_flag, cli_main
from simsiam_mm.zoo import convert_detectron2_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint', help='simsiam_mm checkpoint or extracted backbone')
    parser.add_argument('out', help='output .pkl')
    parser.add_argument('--allow-unexpected', action='store_true', help='drop keys the converter does not know')
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    out, report = convert_detectron2_file(args.checkpoint, args.allow_unexpected)
    atomic_write_bytes(args.out, pickle.dumps(out))
    print(report.details())
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(cli_main(main)())
