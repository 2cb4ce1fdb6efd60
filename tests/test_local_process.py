"""The local backend: output streams line by line from files, and nothing a step started
outlives it, not even when the Airflow task process is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from process_helpers import is_alive, wait_dead

from airflow_provider_metaflow.backends.process import LocalProcess, ProcessKilled

# Starts a plain child and a daemon in a session of its own (it leaves the step's process
# group, so only a subreaper can find it), prints its own pid and theirs, then sleeps.
SPAWNER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    child = subprocess.Popen(["sleep", "300"])
    daemon = subprocess.Popen(["sleep", "301"], start_new_session=True)
    print(os.getpid(), child.pid, daemon.pid, flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    time.sleep(float(sys.argv[1]))
    """
)

# Like SPAWNER, but stops the way a step's Metaflow decorator does: it notes each SIGTERM in
# the file named by argv[1], takes a second to record its failure, notes that, and exits.
RECORDS_ITS_FAILURE = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    def note(text):
        with open(sys.argv[1], "a") as handle:
            handle.write(text + "\\n")
    terms = []
    def on_sigterm(signum, frame):
        terms.append(signum)
        note("SIGTERM")
    signal.signal(signal.SIGTERM, on_sigterm)
    child = subprocess.Popen(["sleep", "300"])
    daemon = subprocess.Popen(["sleep", "301"], start_new_session=True)
    print(os.getpid(), child.pid, daemon.pid, flush=True)
    while not terms:
        time.sleep(0.05)
    time.sleep(1.0)
    note("failure recorded")
    sys.exit(1)
    """
)

# Stands in for the Airflow task process: runs a LocalProcess and, on SIGTERM, calls kill() as
# the task runner calls on_kill. Writes "GUARD STEP CHILD DAEMON" once the step reported.
TASK_PROCESS = textwrap.dedent(
    """
    import os, signal, sys
    from airflow_provider_metaflow.backends.process import LocalProcess, ProcessKilled
    pid_file, step_argv = sys.argv[1], sys.argv[2:]
    process = LocalProcess(step_argv, dict(os.environ), ".", "out", "err")
    signal.signal(signal.SIGTERM, lambda signum, frame: process.kill())
    def sink(stream, line):
        parts = line.split()
        if stream == "stdout" and parts and all(part.isdigit() for part in parts):
            with open(pid_file + ".new", "w") as handle:
                handle.write(" ".join([str(process.pid), *(part.decode() for part in parts)]))
            os.rename(pid_file + ".new", pid_file)
    try:
        process.run(sink)
    except ProcessKilled:
        sys.exit(1)
    """
)


def _process(tmp_path: Path, *argv: str) -> LocalProcess:
    return LocalProcess(
        list(argv), dict(os.environ), str(tmp_path), str(tmp_path / "out"), str(tmp_path / "err")
    )


def _pids_from(lines: list[tuple[str, bytes]]) -> list[int]:
    for stream, line in lines:
        if stream == "stdout" and line.split() and all(part.isdigit() for part in line.split()):
            return [int(part) for part in line.split()]
    return []


def test_output_lines_reach_the_sink_by_stream_and_stay_in_files(tmp_path: Path) -> None:
    lines: list[tuple[str, bytes]] = []
    script = "import sys; print('one'); print('two', file=sys.stderr); sys.stdout.write('no newline')"

    code = _process(tmp_path, sys.executable, "-c", script).run(
        lambda stream, line: lines.append((stream, line))
    )

    assert code == 0
    assert lines.count(("stdout", b"one")) == 1 and ("stderr", b"two") in lines
    assert ("stdout", b"no newline") in lines
    assert (tmp_path / "out").read_bytes() == b"one\nno newline" and (
        tmp_path / "err"
    ).read_bytes() == b"two\n"


def test_exit_code_is_returned(tmp_path: Path) -> None:
    code = _process(tmp_path, sys.executable, "-c", "raise SystemExit(3)").run(lambda stream, line: None)
    assert code == 3


def test_kill_ends_the_step_its_children_and_daemons_it_started(tmp_path: Path) -> None:
    lines: list[tuple[str, bytes]] = []
    process = _process(tmp_path, sys.executable, "-c", SPAWNER, "300")
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            process.run(lambda stream, line: lines.append((stream, line)))
        except ProcessKilled as killed:
            outcome.append(killed)

    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.monotonic() + 15
    while not _pids_from(lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = _pids_from(lines)
    assert pids, "the step never reported its children"

    process.kill()
    runner.join(timeout=15)

    assert not runner.is_alive() and outcome, "run() must end with ProcessKilled"
    assert all(wait_dead(pid) for pid in pids), "a process the step started outlived the kill"


def test_children_and_daemons_left_behind_by_a_finished_step_are_ended(tmp_path: Path) -> None:
    lines: list[tuple[str, bytes]] = []

    code = _process(tmp_path, sys.executable, "-c", SPAWNER, "0").run(lambda s, line: lines.append((s, line)))

    assert code == 0
    assert all(wait_dead(pid) for pid in _pids_from(lines))


def test_a_kill_before_the_command_starts_starts_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    process = _process(tmp_path, sys.executable, "-c", f"open({str(marker)!r}, 'w').close()")
    process.kill()

    with pytest.raises(ProcessKilled, match="before its command started"):
        process.run(lambda stream, line: None)

    time.sleep(0.5)
    assert not marker.exists() and process.pid is None


class _Task:
    """A task process in a process group of its own, as Airflow's supervisor starts it, running
    a step under LocalProcess; the pids of the guard, the step and what the step started."""

    def __init__(self, tmp_path: Path, step_script: str, *step_args: str) -> None:
        pid_file = tmp_path / "pids"
        step_argv = [sys.executable, "-c", step_script, *step_args]
        self.popen = subprocess.Popen(
            [sys.executable, "-c", TASK_PROCESS, str(pid_file), *step_argv],
            cwd=tmp_path,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.guard, self.step, self.child, self.daemon = (int(pid) for pid in pid_file.read_text().split())
        # The leader of the step's session: whatever sits between the guard and the step.
        self.step_session = os.getsid(self.step)
        assert all(is_alive(pid) for pid in (self.step, self.child, self.daemon))

    def assert_nothing_survives(self) -> None:
        try:
            assert wait_dead(self.guard), "the guard outlived the task"
            assert wait_dead(self.step), "the step outlived the task"
            assert wait_dead(self.step_session), "the step's session leader outlived the task"
            assert wait_dead(self.child), "the step's child outlived the task"
            assert wait_dead(self.daemon), "a daemon the step started outlived the task"
        finally:
            for pid in (self.step_session, self.step, self.child, self.daemon):
                if is_alive(pid):
                    os.kill(pid, signal.SIGKILL)
            if self.popen.poll() is None:
                self.popen.kill()
            self.popen.wait()


def test_nothing_survives_a_sigkill_of_the_task_process(tmp_path: Path) -> None:
    """SIGKILL gives the task process no chance to clean up: the guard must, by itself."""
    task = _Task(tmp_path, SPAWNER, "300")

    os.kill(task.popen.pid, signal.SIGKILL)

    task.assert_nothing_survives()


def test_nothing_survives_a_sigkill_of_the_guard(tmp_path: Path) -> None:
    task = _Task(tmp_path, SPAWNER, "300")

    os.kill(task.guard, signal.SIGKILL)

    task.assert_nothing_survives()


def test_nothing_survives_a_sigkill_of_the_task_process_group(tmp_path: Path) -> None:
    """The task process and the guard die together, with no chance for either to clean up."""
    task = _Task(tmp_path, SPAWNER, "300")

    os.killpg(task.popen.pid, signal.SIGKILL)

    task.assert_nothing_survives()


def test_a_sigterm_of_the_task_process_group_gives_the_step_one_sigterm_and_time_to_record_it(
    tmp_path: Path,
) -> None:
    """Airflow's supervisor: SIGTERM to the task's group, SIGKILL to it 5 s later. The task and
    the guard both receive the SIGTERM, and the task also calls kill(); the step must get one."""
    log = tmp_path / "step-signals"
    task = _Task(tmp_path, RECORDS_ITS_FAILURE, str(log))

    os.killpg(task.popen.pid, signal.SIGTERM)
    try:
        task.popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(task.popen.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

    task.assert_nothing_survives()
    assert log.read_text() == "SIGTERM\nfailure recorded\n"
