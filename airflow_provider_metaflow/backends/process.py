"""Run a command as a local process tied to the Airflow task's life.

The command runs under a guard (see guard.py) started as the task's direct child: it dies with
the task, runs the command out of reach of the signals Airflow sends the task's process group,
adopts whatever the command orphans, and ends all of it when the command exits or the task
stops, even when the task process, the guard or both are SIGKILLed. Output goes to two files,
not to pipes or memory: this process tails them into the Airflow log, and reading them to the
end is bounded by their size.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

from airflow_provider_metaflow.backends.base import LineSink

GUARD_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guard.py")
# Airflow's supervisor sends SIGKILL 5 s after SIGTERM: the keeper ends the step before it.
TERMINATE_GRACE_SECONDS = 3.0
POLL_SECONDS = 0.05


class ProcessKilled(Exception):
    """The task was told to stop before or while its command ran."""


class _Tail:
    """New complete lines of a file that another process appends to."""

    def __init__(self, path: str) -> None:
        self._handle = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._partial = b""

    def lines(self) -> list[bytes]:
        *lines, self._partial = (self._partial + self._handle.read()).split(b"\n")
        return lines

    def close(self) -> list[bytes]:
        """The rest of the file, the last line included even without a newline."""
        rest = self.lines() + ([self._partial] if self._partial else [])
        self._handle.close()
        return rest


class LocalProcess:
    """One Metaflow command under a guard. `run()` starts it, streams its output and returns its
    exit code (128 + N when signal N ended it); `kill()` may be called from a signal handler."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        stdout_path: str,
        stderr_path: str,
    ) -> None:
        self._argv = list(argv)
        self._env = dict(env)
        self._cwd = cwd
        self._paths = {"stdout": stdout_path, "stderr": stderr_path}
        self._proc: subprocess.Popen[bytes] | None = None
        self._killed = False

    @property
    def pid(self) -> int | None:
        """The guard's pid (the command runs two levels below it, under the keeper)."""
        return self._proc.pid if self._proc else None

    def run(self, sink: LineSink) -> int:
        if self._killed:
            raise ProcessKilled("the task was stopped before its command started")
        tails = self._start()
        try:
            if self._killed:  # a kill that arrived while the process was being started
                self.kill()
            proc = self._proc
            assert proc is not None
            while proc.poll() is None:
                _forward(tails, sink)
                time.sleep(POLL_SECONDS)
            for name, tail in tails.items():
                for line in tail.close():
                    sink(name, line)
        except BaseException:
            self._stop_and_wait()
            raise
        if self._killed:
            raise ProcessKilled(f"the task was stopped; its command ended with code {proc.returncode}")
        return proc.returncode

    def kill(self) -> None:
        """Ask the guard to end the command and everything it started. Never blocks."""
        self._killed = True
        if self._proc is not None and self._proc.returncode is None:
            try:  # the guard is our unreaped child until we wait for it: its pid is still ours
                os.kill(self._proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _start(self) -> dict[str, _Tail]:
        handles = {name: open(path, "ab") for name, path in self._paths.items()}  # noqa: SIM115
        try:  # no preexec_fn (unsafe in a threaded process): the guard ties itself to os.getpid()
            self._proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
                [
                    sys.executable,
                    "-I",
                    "-S",
                    GUARD_SCRIPT,
                    str(TERMINATE_GRACE_SECONDS),
                    str(os.getpid()),
                    "--",
                    *self._argv,
                ],
                cwd=self._cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=handles["stdout"],
                stderr=handles["stderr"],
            )
        finally:
            for handle in handles.values():
                handle.close()
        return {name: _Tail(path) for name, path in self._paths.items()}

    def _stop_and_wait(self) -> None:
        """On an exception in this process (a timeout, an error): end the guard's work and wait."""
        proc = self._proc
        if proc is None:
            return
        self.kill()
        try:
            proc.wait(timeout=TERMINATE_GRACE_SECONDS + 2)
        except subprocess.TimeoutExpired:
            proc.kill()  # the keeper gets the guard's death as its parent-death signal and ends the rest
            proc.wait()


def _forward(tails: Mapping[str, _Tail], sink: LineSink) -> None:
    for name, tail in tails.items():
        for line in tail.lines():
            sink(name, line)
