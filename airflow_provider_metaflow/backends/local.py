"""Run a Metaflow command as a local child process, tied to the Airflow task's life.

The child gets its own process group, so on_kill and timeouts can end it together with
anything it started; and a parent-death signal, so it cannot outlive a task process that
was killed outright. Output is streamed line by line as it comes.
"""

from __future__ import annotations

import ctypes
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO

_PR_SET_PDEATHSIG = 1
# Airflow's supervisor sends SIGKILL 5 s after SIGTERM: finish the group off before that.
TERMINATE_GRACE_SECONDS = 3.0

LineSink = Callable[[str, bytes], None]  # (stream name, line without newline)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the process group still covers on_kill
        pass


class LocalProcess:
    """One running Metaflow command. Use `run()` for start, stream and wait in one call."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: str) -> None:
        self._argv = list(argv)
        self._env = dict(env)
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def run(self, sink: LineSink) -> int:
        """Start the command, hand every output line to `sink`, return the exit code.

        Whatever interrupts the wait (a timeout, a kill signal turned into an exception)
        ends the whole process group before it propagates.
        """
        self._proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
            self._argv,
            cwd=self._cwd,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl
        )
        try:
            proc = self._proc
            assert proc.stdout is not None and proc.stderr is not None
            streams: dict[str, IO[bytes]] = {"stdout": proc.stdout, "stderr": proc.stderr}
            _pump(streams, sink, lambda: proc.poll() is not None)
            returncode = proc.wait()
        except BaseException:
            self.terminate()
            raise
        if _group_alive(proc.pid):  # processes the step started and left behind
            self.terminate()
        return returncode

    def terminate(self) -> None:
        """SIGTERM the process group, SIGKILL it after a grace period. Safe to call twice."""
        proc = self._proc
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + TERMINATE_GRACE_SECONDS
        while time.monotonic() < deadline and _group_alive(proc.pid):
            proc.poll()
            time.sleep(0.05)
        if _group_alive(proc.pid):
            _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _pump(streams: Mapping[str, IO[bytes]], sink: LineSink, exited: Callable[[], bool]) -> None:
    """Read both pipes without threads, splitting on newlines, until EOF on both, or until
    the command has exited and its pipes are drained (a process it started may hold them)."""
    selector = selectors.DefaultSelector()
    partial: dict[str, bytes] = {}
    for name, pipe in streams.items():
        os.set_blocking(pipe.fileno(), False)
        selector.register(pipe, selectors.EVENT_READ, name)
        partial[name] = b""
    draining = False
    while selector.get_map():
        events = selector.select(timeout=0.2)
        if not events:
            if draining:
                break
            draining = exited()
            continue
        for key, _ in events:
            name = key.data
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                selector.unregister(key.fileobj)
                continue
            *lines, partial[name] = (partial[name] + chunk).split(b"\n")
            for line in lines:
                sink(name, line)
    selector.close()
    for name, rest in partial.items():
        if rest:
            sink(name, rest)
