"""``torchrun`` with the error boundary's promise: when a rank stops on a known failure, its one line is the last
thing printed (torch's launcher otherwise ends with a ``ChildFailedError`` traceback that buries it).

    python -m simsiam_mm.engine.torchrun --nproc_per_node=2 tools/train.py CONFIG --launcher pytorch

Every rank's :func:`simsiam_mm.errors.cli_main` leaves its line in the folder named by ``SIMSIAM_MM_ERROR_DIR``;
after the launcher reports the failure, those lines are printed and the exit status is 1. A failure without such a
line (a crash, a bug) keeps torch's full report.
"""
import os
import sys
import tempfile
from pathlib import Path

from simsiam_mm.errors import ERROR_DIR_ENV


def main(argv: list[str] | None = None) -> int:
    """Run ``torch.distributed.run`` with ``argv``; return its exit status."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run
    with tempfile.TemporaryDirectory(prefix='simsiam_mm_errors_') as error_dir:
        os.environ[ERROR_DIR_ENV] = error_dir
        try:
            run(parse_args(argv))
        except ChildFailedError:
            lines = [p.read_text().strip() for p in sorted(Path(error_dir).glob('rank*.txt'))]
            if not lines:
                raise
            print('\n'.join(lines), file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
