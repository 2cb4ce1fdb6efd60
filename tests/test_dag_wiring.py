"""Hand-written DAGs are checked against the flow's graph when their start task runs: a DAG wired
differently fails the start task, naming the step, before start's user code runs. What
`airflow create` writes always passes (the end-to-end and flow-shape tests run those DAGs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flow_graphs import flow_graph_nodes
from xcom_reads import task_instance

from airflow_provider_metaflow.execution.dag_wiring import dag_wiring
from airflow_provider_metaflow.testing import TestEnvironment, create_dag, run_dag
from airflow_provider_metaflow.version_compat import get_dagbag_class
from metaflow_extensions.airflow_provider_metaflow.plugins.wiring import wiring_problems

HAND_WIRED_DAG = """
from airflow.sdk import DAG
from airflow_provider_metaflow import MetaflowFlow, MetaflowForeachOperator, MetaflowStepOperator

flow = MetaflowFlow("WiringFlow", file={flow_file!r})

with DAG(dag_id="hand_wired", schedule=None) as dag:
    start = MetaflowForeachOperator(
        task_id="start", flow=flow, step="start", env={{"WIRING_MARKER": {marker!r}}}, retries=2
    )
    body = MetaflowStepOperator.partial(
        task_id="body", flow=flow, step="body", inputs=["start"], foreach="start"
    ).expand(split_index=start.output)
    join = MetaflowStepOperator(task_id="join", flow=flow, step="join", inputs=["body"], join_of="start")
    end = MetaflowStepOperator(task_id="end", flow=flow, step="end", inputs=["join"])
    start >> body >> join >> end
"""

# Each mistake: the replacements made in HAND_WIRED_DAG, and what the refusal says.
MISTAKES: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    "wrong inputs": (
        (('inputs=["body"], join_of', 'inputs=["start"], join_of'),),
        "step 'join' (task 'join'), inputs: the graph says it runs after 'body'; the DAG says "
        "inputs=['start']. Write inputs=['body'].",
    ),
    "body without foreach": (
        ((', foreach="start"', ""),),
        "step 'body' (task 'body'), foreach: the graph says foreach='start'; the DAG says foreach=None. "
        "Write foreach='start'.",
    ),
    "missing edge": (
        (("start >> body >> join >> end", "start >> body\n    join >> end"),),
        "step 'join' (task 'join'), >>: the graph says it runs after 'body'; the DAG says task 'body' is "
        "not upstream of it",
    ),
    "missing step": (
        (
            ('    end = MetaflowStepOperator(task_id="end", flow=flow, step="end", inputs=["join"])\n', ""),
            ("body >> join >> end", "body >> join"),
        ),
        "step 'end': the graph says it runs after 'join'; the DAG has no task for it. Add "
        "MetaflowStepOperator(task_id='end', flow=..., step='end', inputs=['join']).",
    ),
}


@pytest.mark.parametrize(
    "flow_name",
    [
        "branch_flow.py",
        "foreach_flow.py",
        "nested_foreach_flow.py",
        "branchy_foreach_flow.py",
        "switch_flow.py",
        "switch_in_foreach_flow.py",
        "switch_into_foreach_join_flow.py",
        "recursive_flow.py",
        "recursive_in_foreach_flow.py",
        "exit_hook_flow.py",
    ],
)
def test_the_generated_dag_as_its_start_task_sees_it_passes(
    flow_name: str, flow_copy: Any, tmp_path: Path
) -> None:
    flow_file = flow_copy(flow_name)
    dag_file = tmp_path / "dag.py"
    create_dag(flow_file, dag_file)
    bag = get_dagbag_class()(dag_folder=str(dag_file))
    (dag,) = bag.dags.values()

    wiring = dag_wiring(dag.task_dict["start"])

    assert {task.step for task in wiring.tasks} == set(flow_graph_nodes(flow_file))
    assert wiring_problems(flow_graph_nodes(flow_file), wiring) == []


def _metaflow_steps(result: Any) -> set[str]:
    from metaflow import Run, namespace
    from metaflow.exception import MetaflowNotFound

    namespace(None)
    try:
        return {step.id for step in Run(result.pathspec)}
    except MetaflowNotFound:
        return set()


@pytest.fixture
def hand_wired(flow_copy: Any, dag_path: Path, tmp_path: Path) -> Any:
    """Write the hand-wired DAG, with some replacements, and return the marker start would write."""
    flow_file = flow_copy("wiring_flow.py")
    marker = tmp_path / "start-ran"

    def write(*replacements: tuple[str, str]) -> Path:
        source = HAND_WIRED_DAG.format(flow_file=str(flow_file), marker=str(marker))
        for old, new in replacements:
            assert old in source
            source = source.replace(old, new)
        dag_path.write_text(source)
        return marker

    return write


@pytest.mark.e2e
def test_the_hand_wired_dag_runs(hand_wired: Any, dag_path: Path, airflow_db: TestEnvironment) -> None:
    marker = hand_wired()

    result = run_dag(dag_path)

    assert result.state == "success"
    assert marker.exists()
    assert result.run()["join"].task["squares"].data == [1, 4, 9]


@pytest.mark.e2e
@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_wiring_mistake_fails_the_start_task_before_its_user_code(
    mistake: str,
    hand_wired: Any,
    dag_path: Path,
    airflow_db: TestEnvironment,
    capfd: pytest.CaptureFixture[str],
) -> None:
    replacements, message = MISTAKES[mistake]
    marker = hand_wired(*replacements)

    result = run_dag(dag_path)

    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert result.state == "failed"
    assert "DAG hand_wired wires the steps of flow WiringFlow differently from the flow's graph" in output
    assert message in output
    start = task_instance(result.dag_id, result.airflow_run_id, "start")
    assert start.state == "failed" and start.try_number == 1, "a refusal must not be retried"
    assert not marker.exists(), "start's user code ran"
    assert "start" not in _metaflow_steps(result)
