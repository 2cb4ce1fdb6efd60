"""Stop process trees that this harness started, and nothing else.

Why: each Airflow service runs in a process group of its own (start_new_session), and Airflow
puts every task runner in yet another group. Stopping a service cleanly means: SIGTERM its group,
give it a grace period, then SIGKILL what is left, including task processes that left the group.

Safety: a leader is never reaped before its group has been signalled for the last time, so its
PID (which is the group id) cannot be reused meanwhile; other processes are signalled through
psutil, which refuses a PID that now belongs to a different process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from typing import Any

_POLL = 0.1


def exit_status(process: subprocess.Popen[Any]) -> int | None:
    """The leader's exit status if it has ended, without reaping it (its PID stays ours)."""
    if process.returncode is not None:
        return process.returncode
    try:
        result = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return process.poll()
    if result is None:
        return None
    return result.si_status if result.si_code == os.CLD_EXITED else -result.si_status


def _live(processes: Iterable[Any]) -> list[Any]:
    import psutil

    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def group_members(pgid: int) -> list[Any]:
    """Live processes (psutil.Process) whose process group is `pgid`."""
    import psutil

    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return _live(members)


def tree(leaders: Sequence[subprocess.Popen[Any]]) -> dict[int, Any]:
    """Every live process in the leaders' groups or below them, keyed by PID."""
    import psutil

    found: dict[int, Any] = {}
    for leader in leaders:
        for member in group_members(leader.pid):
            found[member.pid] = member
    for process in list(found.values()):
        try:
            for child in process.children(recursive=True):
                found.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            continue
    return {process.pid: process for process in _live(found.values())}


def _signal_groups(leaders: Sequence[subprocess.Popen[Any]], signum: int) -> None:
    for leader in leaders:
        if leader.returncode is not None:  # reaped: its group id may no longer be ours
            continue
        try:
            os.killpg(leader.pid, signum)
        except (ProcessLookupError, PermissionError):
            continue


def _wait_gone(processes: dict[int, Any], leaders: Sequence[subprocess.Popen[Any]], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if not _live(processes.values()) and all(exit_status(leader) is not None for leader in leaders):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL)


def stop_trees(stages: Sequence[Sequence[subprocess.Popen[Any]]], grace: float) -> None:
    """Stop the leaders' trees stage by stage, then SIGKILL whatever is left, then reap.

    Each stage's groups get SIGTERM together, and the next stage starts once they have ended
    or `grace` seconds have passed; what is still alive after the last stage's grace is killed.
    """
    import psutil

    leaders = [leader for stage in stages for leader in stage]
    known = tree(leaders)
    for stage in stages:
        stage_known = tree(stage)
        known.update(stage_known)
        _signal_groups(stage, signal.SIGTERM)
        _wait_gone(stage_known, stage, grace)
    if not _wait_gone(known, leaders, 0.0):
        known.update(tree(leaders))
        _signal_groups(leaders, signal.SIGKILL)
        for process in _live(known.values()):
            try:
                process.kill()  # psutil checks the PID still names the process it saw
            except psutil.NoSuchProcess:
                continue
        _wait_gone(known, leaders, 10.0)
    for leader in leaders:
        try:
            leader.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            continue
