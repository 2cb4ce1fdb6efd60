"""A hand-written DAG that forwards every DAG param (`MetaflowFlow(parameters=None)`) passes the
flow's declared Parameters and refuses anything else before any of it reaches Metaflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from xcom_reads import task_instance

from airflow_provider_metaflow.testing import run_dag, run_flow_locally, task_artifacts, task_counts

pytestmark = pytest.mark.e2e

EVERY_PARAM_DAG = """
from airflow.sdk import DAG
from airflow_provider_metaflow import MetaflowFlow, MetaflowStepOperator

flow = MetaflowFlow("LinearFlow", file={flow_file!r}, parameters=None)

with DAG(dag_id="every_param", schedule=None, params={{"count": 4}}) as dag:
    start = MetaflowStepOperator(task_id="start", flow=flow, step="start", retries=2)
    middle = MetaflowStepOperator(task_id="middle", flow=flow, step="middle", inputs=["start"])
    end = MetaflowStepOperator(task_id="end", flow=flow, step="end", inputs=["middle"])
    start >> middle >> end
"""


def _metaflow_run_exists(flow_name: str, run_id: str) -> bool:
    from metaflow import Run, namespace
    from metaflow.exception import MetaflowNotFound

    namespace(None)
    try:
        Run(f"{flow_name}/{run_id}")
    except MetaflowNotFound:
        return False
    return True


def test_declared_parameters_from_params_and_conf_reach_the_run(
    flow_copy: Any, dag_path: Path, airflow_db: Any
) -> None:
    flow_file = flow_copy("linear_flow.py")
    dag_path.write_text(EVERY_PARAM_DAG.format(flow_file=str(flow_file)))

    result = run_dag(dag_path, conf={"label": "from conf"})

    assert result.state == "success"
    local = run_flow_locally(flow_file, {"count": 4, "label": "from conf"})
    assert task_artifacts(result.run()) == task_artifacts(local)
    assert task_counts(result.run()) == task_counts(local)


@pytest.mark.parametrize("key", ["run-id", "not_a_parameter"])
def test_a_conf_key_that_is_not_a_parameter_fails_the_start_task_once_naming_it(
    key: str, flow_copy: Any, dag_path: Path, airflow_db: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    flow_file = flow_copy("linear_flow.py")
    dag_path.write_text(EVERY_PARAM_DAG.format(flow_file=str(flow_file)))

    result = run_dag(dag_path, conf={key: "injected", "label": "fine"})

    assert result.state == "failed"
    start = task_instance(result.dag_id, result.airflow_run_id, "start")
    assert start.state == "failed" and start.try_number == 1, "a refusal must not be retried"
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert f"The DAG run gives '{key}', which is not a Parameter of flow LinearFlow" in output
    assert "MetaflowFlow(parameters=[...])" in output
    # Nothing reached Metaflow's `init`: no run under the injected id, no Parameters stored.
    assert not _metaflow_run_exists("LinearFlow", "injected")
    assert not _metaflow_run_exists("LinearFlow", result.metaflow_run_id)
