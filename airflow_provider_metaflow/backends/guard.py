"""The guard: two tiny processes between the Airflow task and a Metaflow step, so that nothing
the step starts can outlive its task, however the task ends.

    python -I -S guard.py GRACE_SECONDS PARENT_PID -- STEP_ARGV...

    task process                 Airflow's supervisor signals this whole process group
      └─ guard                   same group as the task; child subreaper
           └─ keeper             a session of its own; child subreaper
                └─ step          the keeper's process group
                     └─ whatever the step starts

Airflow 3's supervisor ends a task by signalling its process group (SIGTERM, then SIGKILL 5 s
later), and the guard, the task's direct child, is in that group. So the guard cannot be the one
that ends the step: it may be SIGKILLed at any moment. The keeper is out of reach of the group's
signals, and each of the two ends the step if the other one goes:

- The keeper dies with the guard (parent-death signal) and ends the step's group and every
  orphan it adopted when the step exits, when the guard tells it to stop, or when the guard
  dies: SIGTERM once, SIGKILL after GRACE_SECONDS.
- The guard dies with the task (parent-death signal, and it checks that its parent is still
  PARENT_PID). Told to stop (SIGTERM or SIGINT), it passes one SIGTERM on to the keeper. If the
  keeper dies by a signal, the guard ends the keeper's process group (it outlives its leader)
  and the orphans re-parented to the guard.

The step gets exactly one SIGTERM and the whole grace period: its Metaflow decorator turns
SIGTERM into a recorded failure, and a second SIGTERM would interrupt that. The guard exits
with the step's code, or 128 + the signal that ended it or the keeper.

Standard library only and started with `-S`: it costs a few milliseconds, not an import of
Airflow or Metaflow.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_WATCHED = {signal.SIGCHLD, *_STOP_SIGNALS}
_POLL_SECONDS = 0.05
_KILL_ROUNDS = 20  # orphans of orphans are re-parented to us one level at a time
_KEEPER_SLACK_SECONDS = 2.0  # beyond the grace period, before the guard gives up on the keeper


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value)
    except (OSError, AttributeError):  # not Linux: the process group still covers most cases
        pass


def _tie_to(parent: int) -> bool:
    """Get SIGTERM when the parent dies, then check that it has not died already: together they
    leave no window in which the parent can die unnoticed."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    return os.getppid() == parent


def _fork(child: Callable[[], int]) -> int:
    """Run `child` in a forked process that leaves with its return value, never returning here."""
    pid = os.fork()
    if pid == 0:
        code = 127
        try:
            code = child()
        except BaseException as error:  # noqa: BLE001 - report and leave the forked child
            os.write(2, f"guard: {error}\n".encode())
        finally:
            os._exit(code)
    return pid


def _exec_step(argv: list[str]) -> int:
    """In the step's process: the signal state a freshly started program expects, then exec."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for name in ("SIGPIPE", "SIGXFSZ"):  # ignored by Python, and ignoring survives exec
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        os.execvp(argv[0], argv)
    except OSError as error:
        os.write(2, f"Could not start {argv[0]}: {error}\n".encode())
    return 127


def _process_table() -> list[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every process that has not ended (zombies have)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    table = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                state, ppid, pgrp = handle.read().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if state != "Z":
            table.append((int(entry), int(ppid), int(pgrp)))
    return table


def _remaining(group: int) -> list[tuple[int, int]]:
    """(pid, process group) of what is left to end: members of `group`, and our own children,
    which are orphans re-parented to us (daemons included). Never this process itself."""
    me = os.getpid()
    table = _process_table()
    return [(pid, pgrp) for pid, ppid, pgrp in table if pid != me and (pgrp == group or ppid == me)]


def _send(pid: int, sig: int) -> None:
    try:
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


def _end_everything(group: int, grace: float) -> None:
    """SIGTERM to `group` and to each orphan, once each; SIGKILL to what is left after `grace`.

    `group` may be this process's own (the keeper's): SIGTERM is blocked here, so the keeper's
    share of it stays pending, and SIGKILL goes to each member but this process."""
    try:
        os.killpg(group, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    terminated: set[int] = set()
    deadline = time.monotonic() + grace
    while True:
        _reap()
        left = _remaining(group)
        if not left:
            return
        if time.monotonic() >= deadline:
            break
        # Orphans appear as their parents die. New members of the group get nothing: they may
        # be the step's own work to record its failure.
        for pid, pgrp in left:
            if pgrp != group and pid not in terminated:
                terminated.add(pid)
                _send(pid, signal.SIGTERM)
        signal.sigtimedwait({signal.SIGCHLD}, _POLL_SECONDS)
    for _ in range(_KILL_ROUNDS):
        for pid, _pgrp in left:
            _send(pid, signal.SIGKILL)
        signal.sigtimedwait({signal.SIGCHLD}, _POLL_SECONDS)
        _reap()
        left = _remaining(group)
        if not left:
            return


def _wait_for(child: int, parent: int) -> tuple[int | None, int | None]:
    """Wait until `child` exits or this process is told to stop (a stop signal, or `parent`
    died): (the stop signal, None) or (None, the child's wait status)."""
    while True:
        info = signal.sigtimedwait(_WATCHED, 1.0)
        if info is not None and info.si_signo in _STOP_SIGNALS:
            return info.si_signo, None
        if os.getppid() != parent:  # belt and braces next to the parent-death signal
            return signal.SIGTERM, None
        status = _reap().get(child)
        if status is not None:
            return None, status


def _wait_for_exit(child: int, seconds: float) -> int | None:
    """The child's wait status once it exits, or None after `seconds`. Stop signals wait."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = _reap().get(child)
        if status is not None:
            return status
        signal.sigtimedwait({signal.SIGCHLD}, 0.1)
    return None


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _keep(guard: int, grace: float, step_argv: list[str]) -> int:
    """The keeper: runs the step in its own process group and session, and ends all of it."""
    os.setsid()  # out of the task's process group: the supervisor's signals do not reach it
    if not _tie_to(guard):
        return 128 + signal.SIGTERM
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    told = _STOP_SIGNALS & set(signal.sigpending())
    if told:  # stopped before the step started: start nothing
        return 128 + min(told)
    step = _fork(lambda: _exec_step(step_argv))
    stopped_by, status = _wait_for(step, guard)
    _end_everything(os.getpgrp(), grace)
    if stopped_by is not None:
        return 128 + stopped_by
    assert status is not None
    return _exit_code(status)


def main(argv: list[str]) -> int:
    grace, parent = float(argv[1]), int(argv[2])
    step_argv = argv[argv.index("--") + 1 :]
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    if not _tie_to(parent):  # the task died before the parent-death signal was armed
        return 128 + signal.SIGTERM
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    guard = os.getpid()
    keeper = _fork(lambda: _keep(guard, grace, step_argv))
    stopped_by, status = _wait_for(keeper, parent)
    if status is None:
        _send(keeper, signal.SIGTERM)  # once: the keeper passes it on to the step
        status = _wait_for_exit(keeper, grace + _KEEPER_SLACK_SECONDS)
    if status is None:  # the keeper is stuck: end it, then everything it kept, at once
        _send(keeper, signal.SIGKILL)
        _end_everything(keeper, 0.0)
    elif os.WIFSIGNALED(status):  # the keeper was killed: its group and its orphans are ours
        _end_everything(keeper, grace)
    else:  # the keeper ended everything; anything still here escaped it
        _end_everything(keeper, 0.0)
    if stopped_by is not None:
        return 128 + stopped_by
    assert status is not None
    return _exit_code(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
