"""Run tool command lines in processes forked from one that has already imported the package (tests only).

A tool's start-up is mostly ``import simsiam_mm`` (mmengine, mmcv, mmpretrain: ~9 CPU s); the bad-input cases stop
in their pre-checks a moment later. This server pays the import once, then forks a fresh process per command line:
the child redirects stdin/stdout/stderr, applies the case's file-size limit, sets ``sys.argv`` and ``sys.path[0]`` as
``python TOOL ARGS`` would and runs the tool as ``__main__``; its exit status and output are the tool's. A command that
needs a launcher (``bash tools/dist_train.sh``) is not sent here.

Protocol, one JSON line each way: ``{"argv": [...], "fsize": int | null, "timeout": s, "env": {...} | null,
"merge": bool}`` -> ``{"returncode": int, "output": str, "stderr": str}`` (``output``: stdout, and stderr too when
``merge``). ``env`` replaces the child's environment for what the tool reads at run time (the server's own, started
by the caller, was in force for the import).
"""
import json
import os
import resource
import runpy
import signal
import sys
import tempfile
import time
import traceback

import simsiam_mm  # noqa: F401  (the import every tool starts with: paid once here)


def _child(argv: list[str], fsize: int | None, out_fd: int, err_fd: int, env: dict | None) -> None:
    """In the forked process: become ``python argv...`` and never return."""
    code = 1
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
        runpy.run_path(argv[0], run_name='__main__')
        code = 0
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:  # sys.exit('message'): Python prints it to stderr and exits 1
            print(exit_.code, file=sys.stderr)
    except BaseException:  # an uncaught exception: Python prints the traceback and exits 1
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run(argv: list[str], fsize: int | None, timeout: float, env: dict | None = None, merge: bool = True) -> dict:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(argv, fsize, out.fileno(), (out if merge else err).fileno(), env)
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        output, stderr = out.read().decode(errors='replace'), err.read().decode(errors='replace')
    return dict(returncode=os.waitstatus_to_exitcode(status), output=output, stderr=stderr)


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        reply = run(request['argv'], request.get('fsize'), request.get('timeout', 420), request.get('env'),
                    request.get('merge', True))
        sys.stdout.write(json.dumps(reply) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
