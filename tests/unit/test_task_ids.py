"""The task ids of a generated DAG: one rule for each, shared by the renderer and the check that
refuses a step taking the id of a task the compiler adds."""

from __future__ import annotations

import ast

from airflow_provider_metaflow.compiler.render import render_dag
from airflow_provider_metaflow.compiler.task_ids import planned_task_ids, task_id_problems
from airflow_provider_metaflow.plan import FlowPlan, StepPlan, UpstreamFlow

STEPS = (
    StepPlan("start", "foreach"),
    StepPlan("outer", "foreach", parents=("start",), foreach="start"),
    StepPlan("inner", "linear", parents=("outer",), foreach="outer"),
    StepPlan("join_inner", "join", parents=("inner",), foreach="start", join_of="outer"),
    StepPlan("join_outer", "join", parents=("join_inner",), join_of="start"),
    StepPlan("end", "end", parents=("join_outer",)),
)


def _upstream(flow: str, project: str | None = None, branch: str | None = None) -> UpstreamFlow:
    return UpstreamFlow(flow, project, branch, f"metaflow://{flow}", deployed_here=False)


def test_the_rendered_dag_has_exactly_the_task_ids_the_check_knows() -> None:
    upstream = (_upstream("training"),)
    plan = FlowPlan(
        "F", "/f.py", "F", steps=STEPS, upstream_flows=upstream, exit_hooks_on_success=("notify",)
    )

    tree = ast.parse(render_dag(plan, "/d/f_dag.py"))

    rendered = [
        node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == "task_id" and isinstance(node.value, ast.Constant)
    ]
    assert sorted(rendered) == sorted(planned_task_ids(STEPS, upstream, has_exit_hook=True))
    assert {"outer__splits", "wait_for_training", "metaflow_exit_hook"} <= set(rendered)


def test_distinct_task_ids_pass_the_check() -> None:
    assert task_id_problems(STEPS, (_upstream("training"),), has_exit_hook=True) == []


def test_two_upstream_flows_of_one_name_waited_for_by_sensors_are_refused() -> None:
    """Flows of one name in two projects would both need sensor task 'wait_for_training'."""
    upstream = (_upstream("training", "ml", "prod"), _upstream("training", "ml", "test"))

    (problem,) = task_id_problems(STEPS, upstream, has_exit_hook=False)

    assert problem.where == "@trigger_on_finish"
    assert "'wait_for_training'" in problem.what
    assert problem.what.count("the sensor that waits for flow 'training'") == 2
    assert "Wait for one of these flows only" in problem.fix
