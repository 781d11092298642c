"""`make run`: honcho runs the Procfile, with time for every process to stop, and Ctrl-C is a clean stop.

honcho stops everything with SIGTERM when one process ends or on Ctrl-C, then sends SIGKILL to whatever
still runs five seconds after the first process ended: a constant, not an option (honcho issue #189). The
Celery worker on the embedded file-system broker needs longer for a warm shutdown (measured: 5 to 7 s):
its blocking loop waits on the broker up to 2 s, once more after it is told to stop, then joins its timer
thread. So the grace here is STOP_GRACE_SECONDS. And honcho ends with status 130 (143) after a Ctrl-C
(SIGTERM) however cleanly everything stopped, which make reports as `Error 130`: a stop that was asked
for ends with 0; any other status (a process that failed on its own) is passed on. A hangup (the terminal
closed) stops everything as SIGTERM does.

If make and honcho are killed outright (SIGKILL, an OOM kill: nothing runs to stop the others), each
program is told by the kernel, on Linux: honcho runs each program from a process of its own, which dies
with honcho, and the program gets SIGTERM when that one dies (PR_SET_PDEATHSIG); elsewhere they run on, as
before.

The Procfile does its part: each line `exec`s its program, so honcho's SIGTERM reaches it rather than the
shell in front of it (which died at once, rc=-15, while uvicorn was still shutting down); and the worker
runs a thread pool, because honcho signals the whole process group and prefork's children, killed by that
SIGTERM directly, died mid-task ("exited with signal 15") instead of finishing under a warm shutdown.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from honcho import manager, process
from honcho.command import main as honcho

STOP_GRACE_SECONDS = 30
ASKED_TO_STOP = {128 + signal.SIGINT, 128 + signal.SIGTERM}


def _hung_up(signum: int, frame: object) -> None:
    """The terminal closed (or the SSH session dropped): stop every process as on SIGTERM. honcho handles
    only SIGINT and SIGTERM, and starts each process in a session of its own, so a hangup killed honcho and
    left the web server, worker, beat and runner running with no one to stop them (the next `make run`
    found its port taken). Output to a terminal that is gone fails: it goes nowhere instead."""
    for fd in (1, 2):
        if os.isatty(fd):
            os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    os.kill(os.getpid(), signal.SIGTERM)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _when_parent_dies(signum: int, parent: int) -> None:
    """Have the kernel send this process `signum` when its parent dies (Linux); if the parent is gone
    already, now."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        return  # not supported here: nothing more than before
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)


class _Program(process.Popen):
    """honcho's Popen for one Procfile line: the program gets SIGTERM (a clean stop) when the process that
    runs it dies."""

    def __init__(self, cmd, **kwargs):
        parent = os.getpid()
        super().__init__(cmd, preexec_fn=lambda: _when_parent_dies(signal.SIGTERM, parent), **kwargs)


def _die_with_honcho(honcho_pid: int):
    """honcho's Process.run, in the process honcho starts for each program: SIGKILL when honcho dies (it
    ignores SIGTERM while its program runs), which in turn sends that program its SIGTERM."""
    run = process.Process.run

    def run_dying_with_honcho(self, *args, **kwargs):
        _when_parent_dies(signal.SIGKILL, honcho_pid)
        self._child_ctor = _Program
        return run(self, *args, **kwargs)

    return run_dying_with_honcho


def main(argv: list[str]) -> int:
    # Manager.loop reads this module global each time round. Should honcho rename it, the SIGINT test in
    # tests/e2e/test_make_run.py sees the SIGKILL again.
    manager.KILL_WAIT = STOP_GRACE_SECONDS
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # under nohup, a hangup stays ignored
        signal.signal(signal.SIGHUP, _hung_up)
    if sys.platform.startswith("linux"):
        # Looked up on the class as each process starts. (honcho's Popen names itself in its super() call,
        # so the module's Popen is left as it is; each Process is given the subclass instead.)
        process.Process.run = _die_with_honcho(os.getpid())
    try:
        honcho(["start", *argv])
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    else:
        status = 0
    return 0 if status in ASKED_TO_STOP else status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
