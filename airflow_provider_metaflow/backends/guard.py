"""The guard: a tiny process between the Airflow task and a Metaflow step, so that nothing the
step starts can outlive its task, however the task ends.

    python -I -S guard.py GRACE_SECONDS PARENT_PID -- STEP_ARGV...

It is the task's direct child and dies with it (the launcher sets a parent-death signal before
exec, and the guard checks that its parent is still the launcher). It starts the step in a
new process group and becomes a child subreaper, so processes that the step orphans are
re-parented to the guard instead of to init. When the step exits, or when the guard is told to
stop (SIGTERM or SIGINT from Airflow, or the parent-death signal), it ends the step's group
and every orphan: SIGTERM first, SIGKILL after GRACE_SECONDS. It exits with the step's code,
or 128 + the signal that ended it.

Standard library only and started with `-S`: it costs a few milliseconds, not an import of
Airflow or Metaflow.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_WATCHED = {signal.SIGCHLD, *_STOP_SIGNALS}


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value)
    except (OSError, AttributeError):  # not Linux: the process group still covers most cases
        pass


def _start_step(argv: list[str]) -> int:
    pid = os.fork()
    if pid == 0:  # the step: its own group, an empty signal mask, and it dies with the guard
        try:
            os.setsid()
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            os.execvp(argv[0], argv)
        except BaseException as error:  # noqa: BLE001 - report and leave the forked child
            os.write(2, f"Could not start {argv[0]}: {error}\n".encode())
        os._exit(127)
    return pid


def _children() -> list[int]:
    """Processes whose parent is the guard: the step, and orphans re-parented to it."""
    me = str(os.getpid())
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            found.append(int(entry))
    return found


def _signal_all(group: int, sig: int) -> None:
    """Signal the step's group, and each orphan outside it (once: a second SIGTERM would
    interrupt the step while it records its failure)."""
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in _children():
        try:
            if os.getpgid(pid) != group:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _reap() -> dict[int, int]:
    """Collect every exited child without blocking: {pid: wait status}."""
    statuses: dict[int, int] = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return statuses
        if pid == 0:
            return statuses
        statuses[pid] = status


def _anything_left(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return bool(_children())


def _end_everything(group: int, grace: float) -> None:
    _signal_all(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap()
        if not _anything_left(group):
            return
        signal.sigtimedwait({signal.SIGCHLD}, 0.05)
    for _ in range(20):  # orphans of orphans are re-parented to us as their parents die
        _signal_all(group, signal.SIGKILL)
        _reap()
        if not _anything_left(group):
            return
        time.sleep(0.05)


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def main(argv: list[str]) -> int:
    grace, parent = float(argv[1]), int(argv[2])
    step_argv = argv[argv.index("--") + 1 :]
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    if os.getppid() != parent:  # the task died before the parent-death signal was armed
        return 128 + signal.SIGTERM
    step = _start_step(step_argv)
    stopped_by: int | None = None
    step_status: int | None = None
    while step_status is None and stopped_by is None:
        info = signal.sigtimedwait(_WATCHED, 1.0)
        if info is not None and info.si_signo in _STOP_SIGNALS:
            stopped_by = info.si_signo
        step_status = _reap().get(step, step_status)
        if os.getppid() != parent:  # belt and braces next to the parent-death signal
            stopped_by = signal.SIGTERM
    _end_everything(step, grace)
    if stopped_by is not None:
        return 128 + stopped_by
    assert step_status is not None
    return _exit_code(step_status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
