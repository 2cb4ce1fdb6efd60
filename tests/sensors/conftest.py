"""Real Metaflow runs for the sensor tests, made once per session and shared.

Runs of a flow are told apart by creation order, so each chain of runs of one flow is made in
sequence, while the chains of different flows run side by side.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flow_process import FlowProcess
from sensor_helpers import OTHER_USER, FinishedRuns, GatedRuns, RunInfo, finished_at

from airflow_provider_metaflow.testing import TestEnvironment

SENSOR_FLOWS = Path(__file__).parent / "flows"


@pytest.fixture(scope="session")
def sensor_flows(test_env: TestEnvironment) -> Path:
    """The sensor test flows, copied where the session's Metaflow root is configured."""
    for flow_file in SENSOR_FLOWS.glob("*.py"):
        shutil.copy(flow_file, test_env.flows_folder / flow_file.name)
    return test_env.flows_folder


@pytest.fixture(scope="session")
def finished_runs(sensor_flows: Path) -> FinishedRuns:
    def run(
        flow: str, *args: str, top_level: Sequence[str] = (), succeed: bool = True, **env: str
    ) -> RunInfo:
        process = FlowProcess(sensor_flows / flow, *args, top_level=top_level, env=env)
        try:
            pathspec = process.finish(succeed=succeed)
        finally:
            process.stop()
        return RunInfo(pathspec, finished_at(pathspec))

    def sensed() -> tuple[RunInfo, RunInfo]:
        tagged = run("sensed_flow.py", "--tag", "nightly", METAFLOW_USER=OTHER_USER)
        return tagged, run("sensed_flow.py")

    def project() -> tuple[RunInfo, RunInfo]:
        feature = run("project_sensed_flow.py", top_level=["--branch", "feature"])
        return feature, run("project_sensed_flow.py")

    with ThreadPoolExecutor(max_workers=3) as pool:
        sensed_runs = pool.submit(sensed)
        project_runs = pool.submit(project)
        failed = pool.submit(run, "failing_flow.py", succeed=False)
        tagged, plain = sensed_runs.result()
        feature, user = project_runs.result()
        failed_run = failed.result()
    assert tagged.finished_at and plain.finished_at and failed_run.finished_at is None
    return FinishedRuns(tagged, plain, failed_run, feature, user)


@pytest.fixture
def gated_run(sensor_flows: Path, tmp_path: Path) -> Iterator[GatedRuns]:
    """Start GatedFlow runs that finish when the test opens their gate (`open_gate()`)."""
    gated = GatedRuns(sensor_flows / "gated_flow.py", tmp_path / "gate")
    yield gated
    gated.stop_all()
