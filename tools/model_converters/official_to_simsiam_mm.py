"""Convert an official facebookresearch/simsiam pretraining checkpoint to a simsiam_mm checkpoint.

    python tools/model_converters/official_to_simsiam_mm.py checkpoint_0099.pth.tar OUT.pth \
        [--config configs/simsiam/simsiam_resnet50_8xb64-coslr-100e_in1k.py]

The projector's frozen fc bias (encoder.fc.6.bias) is folded into the next BN's running mean (our fc has no bias):
eval-mode outputs are unchanged. With --config the result is checked against that config's model and the config text
is stored in meta['cfg'] (so publish_model.py can publish and verify it).
"""
import argparse
import sys

from simsiam_mm.checkpoint import save_atomic
from simsiam_mm.errors import add_debug_flag, cli_main
from simsiam_mm.zoo import convert_official_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint',
                        help='official checkpoint (state_dict with module.encoder.* / module.predictor.*)')
    parser.add_argument('out', help='output simsiam_mm checkpoint')
    parser.add_argument('--config', help='simsiam_mm config the result must load into (strict); embedded in meta')
    parser.add_argument('--allow-unexpected', action='store_true', help='drop keys the converter does not know')
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    out, report = convert_official_file(args.checkpoint, args.allow_unexpected, args.config)
    save_atomic(out, args.out)
    print(report.details())
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(cli_main(main)())
