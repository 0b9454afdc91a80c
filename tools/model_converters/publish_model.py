"""Publish a training checkpoint for a model zoo, or verify published files.

    python tools/model_converters/publish_model.py work_dirs/run/epoch_100.pth \
        zoo/simsiam_resnet50_8xb32-coslr-100e_in1k.pth
    -> zoo/simsiam_resnet50_8xb32-coslr-100e_in1k-<sha256[:8]>.pth (optimizer, schedulers, message hub removed)
    python tools/model_converters/publish_model.py --verify zoo/simsiam_resnet50_8xb32-coslr-100e_in1k-1a2b3c4d.pth
"""
import argparse
import sys

from simsiam_mm.errors import add_debug_flag, cli_main
from simsiam_mm.zoo import publish_checkpoint, verify_published


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('paths', nargs='+', help='IN OUT to publish; with --verify, the published files to check')
    parser.add_argument('--verify', action='store_true',
                        help='re-hash each file against its name and load it strictly into its config\'s model')
    parser.add_argument('--config', help='config to embed when the checkpoint has no meta["cfg"]')
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if not args.verify and len(args.paths) != 2:
        parser.error(f'publishing needs IN and OUT, got {len(args.paths)} path(s) (or --verify FILE...)')
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.verify:
        for path in args.paths:
            r = verify_published(path)
            print(f'OK {r.path}: sha256 {r.sha256} matches its name; {r.num_tensors} tensors load strictly into '
                  f'the config\'s model ({r.num_parameters} parameters); epoch {r.meta.get("epoch")}, iter '
                  f'{r.meta.get("iter")}, simsiam_mm {r.meta.get("simsiam_mm_version")}')
        return 0
    r = publish_checkpoint(args.paths[0], args.paths[1], config=args.config)
    print(f'published {r.path}\n  sha256 {r.sha256}\n  kept {r.kept_keys} tensors + meta; dropped '
          f'{", ".join(r.dropped) or "nothing"}')
    return 0


if __name__ == '__main__':
    sys.exit(cli_main(main)())
