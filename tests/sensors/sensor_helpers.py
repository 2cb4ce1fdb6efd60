"""Background Metaflow runs for the sensor tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

OTHER_USER = "nightly_bot"


@dataclass(frozen=True)
class RunInfo:
    pathspec: str
    finished_at: datetime | None

    @property
    def run_id(self) -> str:
        return self.pathspec.split("/")[1]


class FlowProcess:
    """`python flow.py run` in the background, in its own process group (stopped by the test)."""

    def __init__(
        self,
        flow_file: Path,
        *run_args: str,
        top_level: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.flow_name = _flow_class(flow_file)
        self.run_id_file = flow_file.parent / f"{flow_file.stem}-{uuid.uuid4().hex}.run_id"
        argv = [sys.executable, str(flow_file), "--quiet", *top_level, "run"]
        argv += ["--run-id-file", str(self.run_id_file), *run_args]
        self.process = subprocess.Popen(  # noqa: S603 - argv list
            argv,
            cwd=flow_file.parent,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def pathspec(self, timeout: float = 60.0) -> str:
        """The run's pathspec, once Metaflow has registered the run."""
        deadline = time.monotonic() + timeout
        while not (self.run_id_file.exists() and self.run_id_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no run id from {self.flow_name}:\n{self.output()}")
            time.sleep(0.05)
        return f"{self.flow_name}/{self.run_id_file.read_text().strip()}"

    def finish(self, timeout: float = 120.0) -> int:
        self.process.wait(timeout=timeout)
        return self.process.returncode

    def output(self) -> str:
        if self.process.poll() is None or self.process.stdout is None:
            return ""
        return self.process.stdout.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass(frozen=True)
class FinishedRuns:
    tagged: RunInfo  # SensedFlow, tag "nightly", run as OTHER_USER
    plain: RunInfo  # SensedFlow, created after `tagged` finished
    failed: RunInfo  # FailingFlow
    feature_branch: RunInfo  # ProjectSensedFlow on branch test.feature
    user_branch: RunInfo  # ProjectSensedFlow on the user's branch, created after `feature_branch`


class GatedRuns:
    """GatedFlow runs that finish once the test opens their shared gate."""

    def __init__(self, flow_file: Path, gate: Path) -> None:
        self.flow_file = flow_file
        self.gate = gate
        self.started: list[FlowProcess] = []

    def start(self, tag: str) -> FlowProcess:
        process = FlowProcess(self.flow_file, "--tag", tag, "--gate", str(self.gate))
        self.started.append(process)
        return process

    def open_gate(self) -> None:
        self.gate.touch()

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


def unique_tag(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def finished_at(pathspec: str) -> datetime | None:
    from metaflow import Run

    finished = Run(pathspec, _namespace_check=False).finished_at
    return finished.astimezone(UTC) if finished else None


def _flow_class(flow_file: Path) -> str:
    for line in flow_file.read_text().splitlines():
        if line.startswith("class ") and "(FlowSpec)" in line:
            return line.split()[1].split("(")[0]
    raise AssertionError(f"no FlowSpec class in {flow_file}")
