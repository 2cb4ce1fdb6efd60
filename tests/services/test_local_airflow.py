"""`airflow-metaflow-local`: a real local Airflow in the background, that runs a flow deployed
with `create` and stops leaving no process behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pod_cluster import canonical, run_artifacts

from airflow_provider_metaflow.local_airflow import USERNAME, LocalAirflow, running_processes
from airflow_provider_metaflow.runtime.ids import metaflow_run_id
from airflow_provider_metaflow.testing import create_dag, run_flow_locally, task_artifacts, task_counts
from airflow_provider_metaflow.testing.rest import AirflowRestClient, fetch_token

pytestmark = pytest.mark.services

EXAMPLE_FLOW = Path(__file__).resolve().parents[2] / "example_dags" / "flows" / "movie_stats_flow.py"


def _command(local: LocalAirflow, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "airflow_provider_metaflow.local_airflow", command, "--home", str(local.home)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.timeout(600)
def test_the_local_airflow_runs_a_deployed_flow_and_stops_leaving_no_process(tmp_path: Path) -> None:
    import psutil

    local = LocalAirflow.at(tmp_path / "local")
    started = _command(local, "start")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        state = local.state()
        assert state is not None and set(running_processes(state)) == {
            "api-server",
            "scheduler",
            "dag-processor",
            "triggerer",
        }
        password = local.password()
        assert password and f"with password {password!r}" in started.stdout and state["url"] in started.stdout
        assert _command(local, "status").returncode == 0

        flow_file = local.dags_folder / "flows" / EXAMPLE_FLOW.name
        flow_file.parent.mkdir(parents=True)
        shutil.copy(EXAMPLE_FLOW, flow_file)
        create_dag(flow_file, local.dags_folder / "movie_stats_dag.py")
        conf = {"genre": "drama", "min_votes": 1500, "include_classics": False}
        with AirflowRestClient(state["url"], token=fetch_token(state["url"], USERNAME, password)) as rest:
            deadline = time.monotonic() + 120
            while rest.get_dag("MovieStatsFlow") is None:  # the dag-processor's next folder scan
                assert time.monotonic() < deadline, rest.import_errors()
                time.sleep(1)
            rest.set_paused("MovieStatsFlow", False)
            run_id = rest.trigger_dag_run("MovieStatsFlow", conf=conf)
            assert rest.wait_for_dag_run("MovieStatsFlow", run_id, timeout=300).state == "success"

        # The steps wrote to the local Airflow's own datastore, which the client reads with the
        # settings `start` printed.
        remote = run_artifacts(
            f"MovieStatsFlow/{metaflow_run_id('MovieStatsFlow', run_id)}", local.metaflow_env()
        )
        local_copy = tmp_path / EXAMPLE_FLOW.name
        shutil.copy(EXAMPLE_FLOW, local_copy)
        local_run = run_flow_locally(local_copy, conf)
        assert remote["successful"]
        assert remote["task_counts"] == task_counts(local_run)
        assert remote["artifacts"] == canonical(task_artifacts(local_run))
        everything = {
            process.pid: process
            for leader in running_processes(state).values()
            for process in (leader, *leader.children(recursive=True))
        }
    finally:
        stopped = _command(local, "stop")
    assert stopped.returncode == 0, stopped.stderr
    alive = [
        pid
        for pid, process in everything.items()
        if process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    ]
    assert not alive, f"left running: {alive}"
    assert local.state() is None
    assert _command(local, "status").returncode == 3, "status says it is not running"
