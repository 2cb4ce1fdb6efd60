"""`python flow.py airflow trigger|status|list-runs|terminate|delete` against real Airflow services,
through Airflow's own REST client, configured with METAFLOW_AIRFLOW_API_URL."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from process_helpers import is_alive, wait_dead

from airflow_provider_metaflow.testing import create_dag, run_flow_locally, task_artifacts, task_counts
from airflow_provider_metaflow.testing.services import AirflowServices

pytestmark = pytest.mark.services

FLOWS = Path(__file__).resolve().parent.parent / "flows"
TRIGGERED = re.compile(r"Airflow run (\S+), Metaflow run (\S+)\.")


@pytest.fixture(scope="module")
def deployed(airflow_services: AirflowServices) -> dict[str, Path]:
    """LinearFlow and NappingFlow deployed with `create` under DAG ids of this module's own."""
    flows = airflow_services.config.dags_folder / "flows"
    flows.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, dag_id in (("linear_flow.py", "lifecycle_linear"), ("napping_flow.py", "lifecycle_napping")):
        files[dag_id] = flows / f"lifecycle_{name}"
        shutil.copy(FLOWS / name, files[dag_id])
        create_dag(files[dag_id], airflow_services.config.dags_folder / f"{dag_id}_dag.py", name=dag_id)
    airflow_services.register_dags(*files)
    return files


def _cli(
    services: AirflowServices, flow_file: Path, dag_id: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "METAFLOW_AIRFLOW_API_URL": services.base_url}
    return subprocess.run(  # noqa: S603 - argv list
        [sys.executable, str(flow_file), "--quiet", "airflow", "--name", dag_id, *args],
        cwd=flow_file.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_trigger_status_and_list_runs_of_a_deployed_flow(
    airflow_services: AirflowServices, deployed: dict[str, Path], tmp_path: Path
) -> None:
    flow_file, rest = deployed["lifecycle_linear"], airflow_services.rest

    refused = _cli(airflow_services, flow_file, "lifecycle_linear", "trigger", "--alpha", "many")
    assert refused.returncode != 0 and "--alpha" in refused.stderr, refused.stderr
    assert rest.dag_runs("lifecycle_linear") == [], "a bad value starts nothing"

    triggered = _cli(
        airflow_services, flow_file, "lifecycle_linear", "trigger", "--alpha", "2", "--label", "cli"
    )
    assert triggered.returncode == 0, triggered.stderr
    found = TRIGGERED.search(triggered.stdout + triggered.stderr)
    assert found, triggered.stdout + triggered.stderr
    run_id, pathspec = found.groups()
    assert rest.wait_for_dag_run("lifecycle_linear", run_id, timeout=300).state == "success"

    from metaflow import Run

    run = Run(pathspec, _namespace_check=False)  # known before the run existed
    local_copy = tmp_path / "linear_flow.py"
    shutil.copy(FLOWS / "linear_flow.py", local_copy)
    local = run_flow_locally(local_copy, {"alpha": 2, "label": "cli"})
    assert task_counts(run) == task_counts(local)
    assert task_artifacts(run) == task_artifacts(local)

    status = _cli(airflow_services, flow_file, "lifecycle_linear", "status", "--run-id", run_id)
    assert status.stdout.split() == [run_id, "success", pathspec], status.stdout + status.stderr
    listed = _cli(airflow_services, flow_file, "lifecycle_linear", "list-runs")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [run_id]


@pytest.mark.slow  # the Deployer's terminate and delete run these commands (test_deployer.py)
def test_terminate_stops_the_step_processes_and_delete_removes_the_dag(
    airflow_services: AirflowServices, deployed: dict[str, Path], tmp_path: Path
) -> None:
    flow_file, rest = deployed["lifecycle_napping"], airflow_services.rest
    pid_file = tmp_path / "pids"

    triggered = _cli(airflow_services, flow_file, "lifecycle_napping", "trigger", "--pid_file", str(pid_file))
    assert triggered.returncode == 0, triggered.stderr
    found = TRIGGERED.search(triggered.stdout + triggered.stderr)
    assert found
    run_id = found.group(1)
    deadline = time.monotonic() + 180
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the nap step never started"
        time.sleep(1)
    step_pid, grandchild_pid = (int(pid) for pid in pid_file.read_text().split())
    assert is_alive(step_pid) and is_alive(grandchild_pid)

    terminated = _cli(airflow_services, flow_file, "lifecycle_napping", "terminate", "--run-id", run_id)

    assert terminated.returncode == 0, terminated.stderr
    assert rest.wait_for_dag_run("lifecycle_napping", run_id, timeout=120).state == "failed"
    assert wait_dead(step_pid, 60) and wait_dead(grandchild_pid, 30), "the step's processes are stopped"

    dag_file = airflow_services.config.dags_folder / "lifecycle_napping_dag.py"
    env_folder = {"METAFLOW_AIRFLOW_DAGS_FOLDER": str(airflow_services.config.dags_folder)}
    os.environ.update(env_folder)
    try:
        deleted = _cli(airflow_services, flow_file, "lifecycle_napping", "delete")
    finally:
        os.environ.pop("METAFLOW_AIRFLOW_DAGS_FOLDER")
    assert deleted.returncode == 0, deleted.stderr
    assert not dag_file.exists()
    assert rest.get_dag("lifecycle_napping") is None
