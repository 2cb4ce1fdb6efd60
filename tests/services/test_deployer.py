"""Metaflow's Deployer API on Airflow (`Deployer(...).airflow()`), against real Airflow services:
deploy with `create()` and no arguments, trigger, wait, find the deployment again, resume with
clones, terminate, delete."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from process_helpers import is_alive, wait_dead

from airflow_provider_metaflow.testing import run_flow_locally, task_artifacts, task_counts
from airflow_provider_metaflow.testing.services import AirflowServices

pytestmark = pytest.mark.services

FLOWS = Path(__file__).resolve().parent.parent / "flows"


@pytest.fixture
def deployment(airflow_services: AirflowServices, monkeypatch: pytest.MonkeyPatch) -> AirflowServices:
    """The services as the configured Airflow deployment, for the deployer's commands and for
    this process (from_deployment, status)."""
    monkeypatch.setenv("METAFLOW_AIRFLOW_API_URL", airflow_services.base_url)
    monkeypatch.setenv("METAFLOW_AIRFLOW_DAGS_FOLDER", str(airflow_services.config.dags_folder))
    return airflow_services


def _flow(tmp_path: Path, name: str) -> Path:
    copy = tmp_path / "project" / name
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FLOWS / name, copy)
    return copy


@pytest.mark.timeout(900)
def test_deploy_trigger_find_and_delete_through_the_deployer(
    deployment: AirflowServices, tmp_path: Path
) -> None:
    from metaflow import DeployedFlow, Deployer

    flow_file = _flow(tmp_path, "linear_flow.py")
    deployed = Deployer(str(flow_file), show_output=False).airflow(name="deployer_linear").create()
    assert (deployed.name, deployed.id) == ("deployer_linear", "deployer_linear")
    assert deployed.production_token
    dag_file = deployment.config.dags_folder / "deployer_linear_dag.py"
    assert dag_file.exists() and deployment.rest.get_dag("deployer_linear") is not None

    triggered = deployed.trigger(alpha=2, label="deployer")
    assert triggered.status in ("Pending", "Running")
    triggered.wait_for_completion(check_interval=1, timeout=300)
    assert triggered.status == "Succeeded" and not triggered.is_running
    local = run_flow_locally(_flow(tmp_path / "local", "linear_flow.py"), {"alpha": 2, "label": "deployer"})
    assert task_counts(triggered.run) == task_counts(local)
    assert task_artifacts(triggered.run) == task_artifacts(local)

    found = DeployedFlow.from_deployment("deployer_linear", impl="airflow")
    assert (found.name, found.production_token) == ("deployer_linear", deployed.production_token)
    assert "deployer_linear" in [flow.name for flow in DeployedFlow.list_deployed_flows(impl="airflow")]
    again = DeployedFlow.get_triggered_run(
        "deployer_linear", triggered.pathspec.split("/")[1], impl="airflow"
    )
    assert (again.name, again.status) == (triggered.name, "Succeeded")

    assert found.delete()
    assert not dag_file.exists() and deployment.rest.get_dag("deployer_linear") is None


@pytest.mark.timeout(900)
def test_resume_clones_what_finished_and_reruns_the_rest(deployment: AirflowServices, tmp_path: Path) -> None:
    from metaflow import Deployer

    gate = tmp_path / "gate"
    deployed = (
        Deployer(str(_flow(tmp_path, "resumable_flow.py")), show_output=False)
        .airflow(name="deployer_resumable")
        .create()
    )
    failed = deployed.trigger(gate=str(gate))
    failed.wait_for_completion(check_interval=1, timeout=300)
    assert failed.status == "Failed"  # at once, and never None
    origin = failed.pathspec.split("/")[1]

    gate.touch()
    resumed = deployed.resume(origin_run_id=origin)
    resumed.wait_for_completion(check_interval=1, timeout=300)
    assert resumed.status == "Succeeded"
    run = resumed.run
    assert run.id != origin and run.data.values == [0, 2, 4] and run.data.origin == origin
    clones = {task.pathspec.split("/", 2)[2]: task.origin_pathspec for step in run for task in step}
    assert clones == {
        "start/t": f"ResumableFlow/{origin}/start/t",
        "body/t-0": f"ResumableFlow/{origin}/body/t-0",
        "body/t-1": None,  # the split that failed runs again
        "body/t-2": f"ResumableFlow/{origin}/body/t-2",
        "join/t": None,
        "end/t": None,
    }

    from_join = deployed.resume(origin_run_id=run.id, step_to_rerun="join", scale=3)
    from_join.wait_for_completion(check_interval=1, timeout=300)
    assert from_join.status == "Succeeded"
    rerun = from_join.run
    origins = {task.pathspec.split("/", 2)[2]: task.origin_pathspec for step in rerun for task in step}
    assert {name for name, origin_task in origins.items() if origin_task is None} == {"join/t", "end/t"}
    assert rerun.data.values == [0, 2, 4], "the cloned splits keep the values they were run with"


@pytest.mark.timeout(600)
def test_terminate_through_the_deployer_leaves_no_process(
    deployment: AirflowServices, tmp_path: Path
) -> None:
    from metaflow import Deployer

    pid_file = tmp_path / "pids"
    deployed = (
        Deployer(str(_flow(tmp_path, "napping_flow.py")), show_output=False)
        .airflow(name="deployer_napping")
        .create()
    )
    triggered = deployed.trigger(pid_file=str(pid_file))
    deadline = time.monotonic() + 180
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the nap step never started"
        time.sleep(1)
    pids = [int(pid) for pid in pid_file.read_text().split()]
    assert all(is_alive(pid) for pid in pids)

    assert triggered.terminate()
    triggered.wait_for_completion(check_interval=1, timeout=120)
    assert triggered.status == "Failed"
    assert all(wait_dead(pid, 60) for pid in pids), "the step's processes are stopped"
    assert deployed.delete()
