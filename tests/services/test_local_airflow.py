"""`airflow-metaflow-local`: a real local Airflow in the background, that runs a flow deployed
with `create` and stops leaving no process behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pod_cluster import canonical, run_artifacts

from airflow_provider_metaflow.local_airflow import USERNAME, LocalAirflow, running_processes
from airflow_provider_metaflow.runtime.ids import metaflow_run_id
from airflow_provider_metaflow.testing import run_flow_locally, task_artifacts, task_counts
from airflow_provider_metaflow.testing.rest import AirflowRestClient, fetch_token

pytestmark = pytest.mark.services

TRIGGERED = re.compile(r"Airflow run (\S+), Metaflow run")
EXAMPLE_FLOW = Path(__file__).resolve().parents[2] / "example_dags" / "flows" / "movie_stats_flow.py"


def _flow_command(flow_file: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - argv list
        [sys.executable, str(flow_file), "--quiet", "airflow", *args],
        cwd=flow_file.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


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

        # `create` with no FILE deploys into the local Airflow (the default deployment) and has it
        # listed at once: no waiting for the dag-processor's folder scan.
        project = tmp_path / "project"
        project.mkdir()
        flow_file = project / EXAMPLE_FLOW.name
        shutil.copy(EXAMPLE_FLOW, flow_file)
        env = {**os.environ, **local.metaflow_env(), "METAFLOW_AIRFLOW_LOCAL_HOME": str(local.home)}
        env.pop("METAFLOW_AIRFLOW_API_URL", None)
        created = _flow_command(flow_file, env, "create")
        assert created.returncode == 0, created.stderr
        assert (local.dags_folder / "MovieStatsFlow_dag.py").exists()
        conf = {"genre": "drama", "min_votes": 1500, "include_classics": False}
        with AirflowRestClient(state["url"], token=fetch_token(state["url"], USERNAME, password)) as rest:
            dag = rest.get_dag("MovieStatsFlow")
            assert dag is not None and not dag["is_paused"], "listed and unpaused when create returns"
            triggered = _flow_command(
                flow_file,
                env,
                "trigger",
                "--genre",
                "drama",
                "--min_votes",
                "1500",
                "--include_classics",
                "false",
            )
            assert triggered.returncode == 0, triggered.stderr
            run_id = TRIGGERED.search(triggered.stdout + triggered.stderr).group(1)  # type: ignore[union-attr]
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
