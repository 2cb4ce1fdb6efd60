"""The local backend: output streams line by line, and nothing a step started outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from process_helpers import wait_dead

from airflow_provider_metaflow.backends.local import LocalProcess

SPAWNER = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen(["sleep", "300"])
    print(child.pid, flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    time.sleep(float(sys.argv[1]))
    """
)


def test_output_lines_reach_the_sink_by_stream(tmp_path: Path) -> None:
    lines: list[tuple[str, bytes]] = []
    script = "import sys; print('one'); print('two', file=sys.stderr); sys.stdout.write('no newline')"
    code = LocalProcess([sys.executable, "-c", script], dict(os.environ), str(tmp_path)).run(
        lambda stream, line: lines.append((stream, line))
    )
    assert code == 0
    assert ("stdout", b"one") in lines and ("stderr", b"two") in lines and ("stdout", b"no newline") in lines


def test_exit_code_is_returned(tmp_path: Path) -> None:
    code = LocalProcess([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ), str(tmp_path)).run(
        lambda stream, line: None
    )
    assert code == 3


def test_terminate_ends_the_step_and_its_children(tmp_path: Path) -> None:
    pids: list[int] = []
    process = LocalProcess([sys.executable, "-c", SPAWNER, "300"], dict(os.environ), str(tmp_path))

    def sink(stream: str, line: bytes) -> None:
        if stream == "stdout" and line.strip().isdigit():
            pids.append(int(line))

    runner = threading.Thread(target=process.run, args=(sink,))
    runner.start()
    deadline = time.monotonic() + 10
    while not pids and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids, "the step never reported its child"
    step_pid = process.pid
    assert step_pid is not None

    process.terminate()
    runner.join(timeout=15)

    assert not runner.is_alive()
    assert wait_dead(step_pid) and wait_dead(pids[0])


def test_children_left_behind_by_a_finished_step_are_ended(tmp_path: Path) -> None:
    pids: list[int] = []
    process = LocalProcess([sys.executable, "-c", SPAWNER, "0"], dict(os.environ), str(tmp_path))

    code = process.run(lambda stream, line: pids.append(int(line)) if line.strip().isdigit() else None)

    assert code == 0
    assert wait_dead(pids[0])


def test_step_dies_when_the_task_process_is_killed(tmp_path: Path) -> None:
    """SIGKILL gives the task process no chance to clean up: the parent-death signal must."""
    pid_file = tmp_path / "pids"
    task_process = textwrap.dedent(
        f"""
        import os, sys
        from airflow_provider_metaflow.backends.local import LocalProcess
        process = LocalProcess([sys.executable, "-c", {SPAWNER!r}, "300"], dict(os.environ), ".")
        def sink(stream, line):
            if line.strip().isdigit():
                with open({str(pid_file)!r}, "w") as handle:
                    handle.write("%d %d" % (process.pid, int(line)))
        process.run(sink)
        """
    )
    task = subprocess.Popen([sys.executable, "-c", task_process], cwd=tmp_path)
    deadline = time.monotonic() + 15
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    step_pid, grandchild = (int(pid) for pid in pid_file.read_text().split())

    os.kill(task.pid, signal.SIGKILL)
    task.wait()

    try:
        assert wait_dead(step_pid)
    finally:  # the signal reaches the step only; its own children are on_kill's job
        os.kill(grandchild, signal.SIGKILL)
