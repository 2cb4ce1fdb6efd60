"""Steps as Kubernetes pods through the real KubernetesPodOperator, against a loopback Kubernetes
API that runs each pod's command as a local process, with the S3 datastore served by moto.
Synchronous mode, under dag.test(); the deferrable mode runs under the real triggerer
(tests/services)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pod_cluster import FAKE_SECRET, METAFLOW_CONN_ID, PodCluster, canonical, run_artifacts
from process_helpers import wait_dead
from xcom_reads import xcom_values

from airflow_provider_metaflow.testing import (
    create_dag,
    run_dag,
    run_flow_locally,
    task_artifacts,
    task_counts,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def pods(pod_cluster: PodCluster, monkeypatch: pytest.MonkeyPatch) -> PodCluster:
    """This process is the Airflow worker: it gets the cluster's connections."""
    for name, value in pod_cluster.connections.items():
        monkeypatch.setenv(name, value)
    return pod_cluster


def _compile(flow_file: Path, dag_path: Path, pods: PodCluster, *top_level: str) -> str:
    author_env = {**pods.metaflow_env, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET}  # moto takes any key
    create_dag(
        flow_file, dag_path, "--metaflow-conn-id", METAFLOW_CONN_ID, top_level=top_level, env=author_env
    )
    return dag_path.read_text()


def _pods_of(pods: PodCluster, dag_id: str) -> list[dict[str, Any]]:
    return [pod for pod in pods.kube.created_pods if pod["metadata"]["labels"].get("dag_id") == dag_id]


def test_foreach_flow_with_every_step_as_a_pod_matches_the_local_run(
    flow_copy: Any, dag_path: Path, airflow_db: Any, pods: PodCluster, capfd: pytest.CaptureFixture[str]
) -> None:
    flow_file = flow_copy("pod_foreach_flow.py")
    source = _compile(flow_file, dag_path, pods, "--with", "kubernetes")
    assert (
        source.count("MetaflowKubernetesOperator(") + source.count("MetaflowKubernetesOperator.partial(") == 4
    )

    result = run_dag(dag_path, conf={"scale": 2})

    assert result.state == "success"
    remote = run_artifacts(result.pathspec, pods.metaflow_env)
    assert remote["successful"]
    local_run = run_flow_locally(flow_file, {"scale": 2})
    assert remote["task_counts"] == task_counts(local_run)
    assert remote["artifacts"] == canonical(task_artifacts(local_run))
    created = _pods_of(pods, result.dag_id)
    assert sorted(pod["metadata"]["labels"]["task_id"] for pod in created) == [
        "end",
        "join",
        "square",
        "square",
        "square",
        "start",
    ]
    assert not [name for name in pods.kube.pods if name[1].startswith(("start", "square", "join", "end"))]
    # no credential reached the DAG file, a pod spec or the task log
    assert FAKE_SECRET not in source
    assert FAKE_SECRET not in json.dumps(created)
    assert FAKE_SECRET not in capfd.readouterr().out


# Waits out the slow step's 60 s @timeout on purpose: about 100 s on two loaded cores.
@pytest.mark.timeout(600)
def test_a_failed_pod_is_retried_as_the_next_attempt_and_a_timeout_deletes_the_pod(
    flow_copy: Any, dag_path: Path, airflow_db: Any, pods: PodCluster
) -> None:
    flow_file = flow_copy("pod_retry_timeout_flow.py")
    _compile(flow_file, dag_path, pods)

    result = run_dag(dag_path)

    assert result.state == "failed"  # `slow` overran its @timeout
    remote = run_artifacts(result.pathspec, pods.metaflow_env)
    assert remote["attempts"]["start"] == [1]  # Airflow's retry ran Metaflow attempt 1
    starts = [pod for pod in _pods_of(pods, result.dag_id) if pod["metadata"]["labels"]["task_id"] == "start"]
    assert [pod["metadata"]["labels"]["try_number"] for pod in starts] == ["1", "2"]
    (slow,) = [pod for pod in _pods_of(pods, result.dag_id) if pod["metadata"]["labels"]["task_id"] == "slow"]
    assert slow["spec"]["activeDeadlineSeconds"] == 60
    name = (slow["metadata"]["namespace"], slow["metadata"]["name"])
    assert name not in pods.kube.pods, "the timed-out pod was not deleted"
    assert wait_dead(pods.kube.pids[name]), "the timed-out pod's process is still running"


def test_parameter_and_config_values_and_the_token_stay_out_of_pod_specs_and_logs(
    flow_copy: Any, dag_path: Path, airflow_db: Any, pods: PodCluster, capfd: pytest.CaptureFixture[str]
) -> None:
    """KubernetesPodOperator logs a failed pod's whole spec; the step's values travel through
    the datastore instead."""
    flow_file = flow_copy("pod_values_flow.py")
    source = _compile(flow_file, dag_path, pods, "--with", "kubernetes:cpu=0.5,memory=512")
    (token,) = [line.split("'")[1] for line in source.splitlines() if "production_token=" in line]
    word = "param-value-31c9e2"

    result = run_dag(dag_path, conf={"word": word})

    assert result.state == "success"
    remote = run_artifacts(result.pathspec, pods.metaflow_env)
    local = run_flow_locally(flow_file, {"word": word})
    assert remote["artifacts"] == canonical(task_artifacts(local))
    assert remote["task_counts"] == task_counts(local)
    assert word in remote["artifacts"] and "config-value-5be1d0" in remote["artifacts"]
    logged = capfd.readouterr()
    assert "remote_pod" in logged.out + logged.err, "no failed pod's spec was logged: nothing was checked"
    created = json.dumps(_pods_of(pods, result.dag_id))
    for value in (word, "config-value-5be1d0", token):
        assert value not in created, f"{value} is in a pod spec"
        assert value not in logged.out + logged.err, f"{value} is in the task log"


def test_a_pod_steps_xcom_artifacts_are_read_from_the_datastore_and_pushed(
    flow_copy: Any, dag_path: Path, airflow_db: Any, pods: PodCluster
) -> None:
    """The pod has no XCom sidecar: the worker's probe reads the artifacts after the pod ended."""
    flow_file = flow_copy("pod_xcom_flow.py")
    source = _compile(flow_file, dag_path, pods)
    marker = "MetaflowKubernetesOperator(\n        task_id='start',\n"
    assert marker in source
    dag_path.write_text(source.replace(marker, marker + "        xcom_artifacts=['summary', 'note'],\n"))

    result = run_dag(dag_path)

    assert result.state == "success"
    stored = json.loads(run_artifacts(result.pathspec, pods.metaflow_env)["artifacts"])["start"]["()"]
    assert stored == {"summary": {"rows": 3, "names": ["a", "b"], "ratio": 0.25}, "note": "from a pod"}
    for name, value in stored.items():
        assert xcom_values(result.dag_id, result.airflow_run_id, "start", name) == [value]
    (pod,) = _pods_of(pods, result.dag_id)
    assert [container["name"] for container in pod["spec"]["containers"]] == ["base"], "no XCom sidecar"


POD_GROUP_DAG = """
from airflow.sdk import DAG
from {module} import pod_xcom_flow

with DAG(dag_id="pods_in_a_group", schedule=None) as dag:
    pod_xcom_flow(group_id="pods", xcom_artifacts={{"start": ["summary", "note"]}})
"""


def test_a_flow_with_a_pod_step_runs_as_a_task_group_and_pushes_its_artifacts(
    flow_copy: Any, test_env: Any, dag_path: Path, airflow_db: Any, pods: PodCluster
) -> None:
    from airflow_provider_metaflow.runtime.ids import metaflow_run_id

    flow_file = flow_copy("pod_xcom_flow.py")
    module_file = test_env.dags_folder / "pod_xcom_group.py"
    author_env = {**pods.metaflow_env, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET}
    create_dag(flow_file, module_file, "--task-group", "--metaflow-conn-id", METAFLOW_CONN_ID, env=author_env)
    dag_path.write_text(POD_GROUP_DAG.format(module=module_file.stem))

    try:
        result = run_dag(dag_path)
    finally:
        module_file.unlink()

    assert result.state == "success"
    pathspec = f"PodXComFlow/{metaflow_run_id('pods_in_a_group', result.airflow_run_id, 'pods')}"
    stored = json.loads(run_artifacts(pathspec, pods.metaflow_env)["artifacts"])["start"]["()"]
    assert stored == {"summary": {"rows": 3, "names": ["a", "b"], "ratio": 0.25}, "note": "from a pod"}
    for name, value in stored.items():
        assert xcom_values(result.dag_id, result.airflow_run_id, "pods.start", name) == [value]
    (pod,) = _pods_of(pods, "pods_in_a_group")
    assert pod["metadata"]["labels"]["task_id"] == "pods.start"
