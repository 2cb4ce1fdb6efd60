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
# group, so only the guard's subreaper role can find it), prints both pids, then sleeps.
SPAWNER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    child = subprocess.Popen(["sleep", "300"])
    daemon = subprocess.Popen(["sleep", "301"], start_new_session=True)
    print(child.pid, daemon.pid, flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    time.sleep(float(sys.argv[1]))
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


def test_nothing_survives_a_sigkill_of_the_task_process(tmp_path: Path) -> None:
    """SIGKILL gives the task process no chance to clean up: the guard must, by itself."""
    pid_file = tmp_path / "pids"
    task_process = textwrap.dedent(
        f"""
        import os, sys
        from airflow_provider_metaflow.backends.process import LocalProcess
        process = LocalProcess([sys.executable, "-c", {SPAWNER!r}, "300"], dict(os.environ), ".",
                               "out", "err")
        def sink(stream, line):
            parts = line.split()
            if parts and all(part.isdigit() for part in parts):
                with open({str(pid_file)!r}, "w") as handle:
                    handle.write(" ".join([str(process.pid), *(part.decode() for part in parts)]))
        process.run(sink)
        """
    )
    task = subprocess.Popen([sys.executable, "-c", task_process], cwd=tmp_path)
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    guard, child, daemon = (int(pid) for pid in pid_file.read_text().split())
    assert is_alive(child) and is_alive(daemon)

    os.kill(task.pid, signal.SIGKILL)
    task.wait()

    try:
        assert wait_dead(guard), "the guard outlived the task process"
        assert wait_dead(child), "the step's child outlived the task process"
        assert wait_dead(daemon), "a daemon the step started outlived the task process"
    finally:
        for pid in (child, daemon):
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)
