"""Fixtures for running the real KubernetesPodOperator against the loopback Kubernetes API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_metaflow.testing.kubernetes_api import KubernetesApiServer
from airflow_provider_metaflow.version_compat import get_dagbag_class


@dataclass(frozen=True)
class DagTestRun:
    state: str
    task_states: dict[str, str]
    task_log: str  # every task log line, as Airflow logged it


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[KubernetesApiServer]:
    with KubernetesApiServer(pending_seconds=1.0) as server:  # a pod takes a moment to start
        server.write_kubeconfig(tmp_path / "kubeconfig")
        yield server


@pytest.fixture
def kubeconfig(kube_api: KubernetesApiServer, tmp_path: Path) -> Path:
    return tmp_path / "kubeconfig"


@pytest.fixture
def run_dag_file(airflow_db: Any, dag_path: Path) -> Callable[[str], DagTestRun]:
    """Write a DAG file into the dags folder and run it once with dag.test().

    The task log is read from Airflow's structlog events: in dag.test() tasks run in-process and
    log through structlog, whose output stream pytest's fd capture cannot reliably see."""
    import structlog.testing

    def run(source: str) -> DagTestRun:
        dag_path.write_text(source)
        bag = get_dagbag_class()(dag_folder=str(dag_path))
        assert not bag.import_errors, bag.import_errors
        (dag,) = bag.dags.values()
        with structlog.testing.capture_logs() as events:
            dag_run = dag.test()
        states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
        task_log = "\n".join(_message(event) for event in events)
        return DagTestRun(str(dag_run.state), states, task_log)

    return run


def _message(event: dict[str, Any]) -> str:
    """A captured event as the log line it renders to (%-style arguments applied)."""
    message, args = str(event.get("event")), event.get("positional_args")
    return message % tuple(args) if args else message
