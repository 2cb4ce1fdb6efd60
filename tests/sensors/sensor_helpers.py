"""Background Metaflow runs for the sensor tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flow_process import FlowProcess

OTHER_USER = "nightly_bot"


@dataclass(frozen=True)
class RunInfo:
    pathspec: str
    finished_at: datetime | None

    @property
    def run_id(self) -> str:
        return self.pathspec.split("/")[1]


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
