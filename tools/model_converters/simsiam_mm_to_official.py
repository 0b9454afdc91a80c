"""Convert a simsiam_mm checkpoint to the official facebookresearch/simsiam format.

    python tools/model_converters/simsiam_mm_to_official.py CKPT OUT.pth.tar

Writes {'epoch', 'arch', 'state_dict'} with module.encoder.* (backbone + projector as encoder.fc) and
module.predictor.*, as main_simsiam.py saves them; main_lincls.py --pretrained reads it. The projector's output fc
gets a zero bias (the official model has one, frozen; ours folds it into the BN running mean).
"""
import argparse
import sys

from simsiam_mm.checkpoint import save_atomic
from simsiam_mm.errors import add_debug_flag, cli_main
from simsiam_mm.zoo import convert_to_official_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint', help='simsiam_mm checkpoint (backbone.*, neck.mlp.*, head.predictor.mlp.*)')
    parser.add_argument('out', help='output official checkpoint')
    parser.add_argument('--allow-unexpected', action='store_true', help='drop keys the converter does not know')
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    out, report = convert_to_official_file(args.checkpoint, args.allow_unexpected)
    save_atomic(out, args.out)
    print(report.details())
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(cli_main(main)())
