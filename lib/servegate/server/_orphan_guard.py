"""Exec a command that dies with its parent: ``python -m servegate.server._orphan_guard PPID CMD``.

Linux's ``PR_SET_PDEATHSIG`` survives ``execve``, so the server started through this shim gets
SIGTERM when the Python process that launched it dies for any reason, SIGKILL included. It
is set here, in a fresh interpreter, rather than in ``preexec_fn``, which is unsafe in a
threaded parent such as a Jupyter kernel.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    parent_pid, cmd = int(argv[0]), argv[1:]
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    # The parent may have died before prctl took effect: then nobody would signal us.
    if os.getppid() != parent_pid:
        sys.exit(f"servegate: parent {parent_pid} exited before the server started")
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
