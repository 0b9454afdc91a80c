"""Convert the backbone of a simsiam_mm checkpoint to a torchvision ResNet state dict.

    python tools/model_converters/simsiam_mm_to_torchvision.py CKPT OUT.pth [--no-fc | --num-classes N] [--cifar-stem]

Load it with torchvision.models.resnet50().load_state_dict(torch.load(OUT), strict=True). The fc layer is NOT
pretrained: by default a new N(0, 0.01)/0 classifier is added (main_lincls.py's init) so strict loading passes;
--no-fc leaves it out (set model.fc = torch.nn.Identity() first). A ResNet_CIFAR backbone (3x3 stem, no max-pool) is
refused unless --cifar-stem: then load it into simsiam_mm.zoo.torchvision_resnet(18, cifar_stem=True).
"""
import argparse
import sys

from simsiam_mm.checkpoint import save_atomic
from simsiam_mm.errors import add_debug_flag, cli_main
from simsiam_mm.zoo import convert_torchvision_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint', help='simsiam_mm checkpoint or extracted backbone')
    parser.add_argument('out', help='output torchvision state dict')
    parser.add_argument('--no-fc', action='store_true', help='omit fc.* (load into a model with fc = Identity())')
    parser.add_argument('--num-classes', type=int, default=1000, help='rows of the new fc (default 1000)')
    parser.add_argument('--cifar-stem', action='store_true',
                        help='accept a ResNet_CIFAR backbone, for torchvision_resnet(depth, cifar_stem=True)')
    parser.add_argument('--allow-unexpected', action='store_true', help='drop keys the converter does not know')
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    out, report = convert_torchvision_file(args.checkpoint, not args.no_fc, args.num_classes, args.cifar_stem,
                                           args.allow_unexpected)
    save_atomic(out, args.out)
    print(report.details())
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(cli_main(main)())
