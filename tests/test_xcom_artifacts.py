"""`xcom_artifacts=`: native Airflow tasks downstream of a Metaflow step read its artifacts from
XCom (`xcom_pull(key=NAME)`, `step.output[NAME]`) without importing Metaflow; an artifact that
cannot go to XCom fails the task for good, naming it, and nothing is pushed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from xcom_reads import task_instance, xcom_values

from airflow_provider_metaflow.testing import run_dag

pytestmark = pytest.mark.e2e

END_ARTIFACTS = ("metrics", "label", "count")

ARTIFACTS_DAG = """
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from airflow_provider_metaflow import (
    MetaflowFlow,
    MetaflowForeachOperator,
    MetaflowLoopOperator,
    MetaflowStepOperator,
)

flow = MetaflowFlow("XComArtifactsFlow", file={flow_file!r})


def received(ti, metrics, label, count, lengths):
    return {{
        "arguments": {{"metrics": metrics, "label": label, "count": count, "lengths": list(lengths)}},
        "pulled": {{name: ti.xcom_pull(task_ids="end", key=name) for name in ("metrics", "label", "count")}},
        "pulled_lengths": ti.xcom_pull(task_ids="measure", key="length"),
        "settled": ti.xcom_pull(task_ids="settle", key="settled"),
    }}


with DAG(dag_id="xcom_artifacts", schedule=None) as dag:
    start = MetaflowForeachOperator(task_id="start", flow=flow, step="start")
    measure = MetaflowStepOperator.partial(
        task_id="measure", flow=flow, step="measure", inputs=["start"], foreach="start",
        xcom_artifacts=["length"],
    ).expand(split_index=start.output)
    join = MetaflowStepOperator(task_id="join", flow=flow, step="join", inputs=["measure"], join_of="start")
    settle = MetaflowLoopOperator(
        task_id="settle", flow=flow, step="settle", inputs=["join"], xcom_artifacts=["settled", "rounds"]
    )
    end = MetaflowStepOperator(
        task_id="end", flow=flow, step="end", inputs=["settle"], conditional=True,
        trigger_rule="none_failed", xcom_artifacts=["metrics", "label", "count"],
    )
    check = PythonOperator(
        task_id="check",
        python_callable=received,
        op_kwargs={{
            "metrics": end.output["metrics"],
            "label": end.output["label"],
            "count": end.output["count"],
            "lengths": measure.output["length"],
        }},
    )
    start >> measure >> join >> settle >> end >> check
"""

# One step, so a failing run costs one Metaflow process: every kind of problem at once, next to
# an artifact that could go (and must not, when another cannot).
REFUSED_DAG = """
from airflow.sdk import DAG

from airflow_provider_metaflow import (
    MetaflowFlow,
    MetaflowForeachOperator,
    MetaflowLoopOperator,
    MetaflowStepOperator,
)

flow = MetaflowFlow("XComArtifactsFlow", file={flow_file!r})

# Wired as the flow's graph says (the start task checks that first); only start's artifacts matter.
with DAG(dag_id="xcom_artifacts_refused", schedule=None) as dag:
    start = MetaflowForeachOperator(
        task_id="start",
        flow=flow,
        step="start",
        xcom_artifacts=["items", "tags_seen", "long_text", "absent"],
        xcom_artifact_max_bytes=100,
        retries=1,
    )
    measure = MetaflowStepOperator.partial(
        task_id="measure", flow=flow, step="measure", inputs=["start"], foreach="start"
    ).expand(split_index=start.output)
    join = MetaflowStepOperator(task_id="join", flow=flow, step="join", inputs=["measure"], join_of="start")
    settle = MetaflowLoopOperator(task_id="settle", flow=flow, step="settle", inputs=["join"])
    end = MetaflowStepOperator(
        task_id="end", flow=flow, step="end", inputs=["settle"], conditional=True, trigger_rule="none_failed"
    )
    start >> measure >> join >> settle >> end
"""


def test_native_tasks_read_the_artifacts_from_xcom_as_the_metaflow_client_does(
    flow_copy: Any, dag_path: Path, airflow_db: Any
) -> None:
    flow_file = flow_copy("xcom_artifacts_flow.py")
    dag_path.write_text(ARTIFACTS_DAG.format(flow_file=str(flow_file)))

    result = run_dag(dag_path)

    assert result.state == "success"
    run = result.run()
    end = run["end"].task
    expected = {name: end[name].data for name in END_ARTIFACTS}
    assert expected == {
        "metrics": {"total": 6, "lengths": [1, 2, 3], "ratio": 0.5, "ok": True},
        "label": "it's {{ not jinja }} done",
        "count": 3,
    }
    (received,) = xcom_values(result.dag_id, result.airflow_run_id, "check", "return_value")
    lengths = [task["length"].data for task in sorted(run["measure"], key=lambda task: task.index)]
    assert lengths == [1, 2, 3]
    assert received == {
        "arguments": {**expected, "lengths": lengths},
        "pulled": expected,
        "pulled_lengths": lengths,
        "settled": {"after_rounds": 2},
    }
    # A recursive step pushes its last iteration's values; the iteration before had no `settled`.
    assert sorted(task["rounds"].data for task in run["settle"]) == [1, 2]
    assert xcom_values(result.dag_id, result.airflow_run_id, "settle", "rounds") == [2]
    for name, value in expected.items():  # each under its own key, from the end task only
        assert xcom_values(result.dag_id, result.airflow_run_id, "end", name) == [value]
    assert xcom_values(result.dag_id, result.airflow_run_id, "join", "lengths") == []


def test_artifacts_that_cannot_go_to_xcom_fail_the_task_once_naming_each(
    flow_copy: Any, dag_path: Path, airflow_db: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    flow_file = flow_copy("xcom_artifacts_flow.py")
    dag_path.write_text(REFUSED_DAG.format(flow_file=str(flow_file)))

    result = run_dag(dag_path)

    assert result.state == "failed"
    start = task_instance(result.dag_id, result.airflow_run_id, "start")
    assert start.state == "failed" and start.try_number == 1, "retrying cannot help: no retry"
    assert result.run()["start"].task.successful, "the Metaflow task itself succeeded"
    captured = capfd.readouterr()
    output = captured.out + captured.err
    pathspec = f"{result.pathspec}/start/t"
    assert f"Step 'start': Metaflow task {pathspec} succeeded, but 3 artifacts in xcom_artifacts" in output
    assert "'tags_seen': it is a dict holding a set, which is not a JSON type" in output
    assert "'long_text': its JSON text is 202 bytes, over the bound of 100 bytes" in output
    assert "'absent': the task has no artifact of that name" in output
    assert "read them with the Metaflow client from the task's pathspec (XCom key 'pathspec')" in output
    for key in ("items", "pathspec", "return_value"):  # all or nothing
        assert xcom_values(result.dag_id, result.airflow_run_id, "start", key) == []
