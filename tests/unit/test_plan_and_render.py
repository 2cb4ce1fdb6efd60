import ast

import pytest

from airflow_provider_metaflow.compiler.render import render_dag
from airflow_provider_metaflow.plan import PLAN_SCHEMA_VERSION, FlowPlan, ParameterPlan, StepPlan

PLAN = FlowPlan(
    flow_name="TrainFlow",
    flow_file="/repo/flows/train.py",
    dag_id="TrainFlow",
    steps=(
        StepPlan("start", "foreach"),
        StepPlan("train", "linear", parents=("start",), foreach="start", retries=2, retry_delay_seconds=60),
        StepPlan("join", "join", parents=("train",), join_of="start", timeout_seconds=90),
        StepPlan("end", "end", parents=("join",)),
    ),
    parameters=(
        ParameterPlan("alpha", "number", 0.5, description="learning rate"),
        ParameterPlan("quote", "string", 'it\'s "{{ x }}"\n$(y)'),
    ),
    schedule="0 0 * * *",
    tags=("team:ml",),
)


def test_plan_round_trips_through_json() -> None:
    assert FlowPlan.from_json(PLAN.to_json()) == PLAN


def test_plan_from_another_schema_version_is_refused() -> None:
    text = PLAN.to_json().replace(f'"schema_version": {PLAN_SCHEMA_VERSION}', '"schema_version": 99')
    with pytest.raises(ValueError, match="schema version 99"):
        FlowPlan.from_json(text)


def test_rendered_dag_imports_only_airflow_sdk_and_the_provider() -> None:
    tree = ast.parse(render_dag(PLAN, "/repo/dags/train_dag.py"))
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert modules == {"__future__", "datetime", "airflow.sdk", "airflow_provider_metaflow"}


def test_rendered_dag_maps_the_foreach_body_and_wires_edges() -> None:
    source = render_dag(PLAN, "/repo/dags/train_dag.py")
    assert "file='../flows/train.py'" in source
    assert ").expand(split_index=start.output)" in source
    assert "join_of='start'" in source
    assert "    start >> train\n    train >> join\n    join >> end\n" in source
    assert "retries=2" in source and "retry_delay=datetime.timedelta(seconds=60)" in source
    assert "execution_timeout=datetime.timedelta(seconds=90)" in source
    assert "schedule='0 0 * * *'" in source


def test_parameter_values_are_python_literals_not_code() -> None:
    source = render_dag(PLAN, "/repo/dags/train_dag.py")
    params = next(
        node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.keyword) and node.arg == "params"
    )
    assert isinstance(params.value, ast.Dict)
    defaults = [ast.literal_eval(call.args[0]) for call in params.value.values]  # type: ignore[attr-defined]
    assert defaults == [0.5, 'it\'s "{{ x }}"\n$(y)']


def test_step_names_that_shadow_dag_names_get_their_own_variables() -> None:
    plan = FlowPlan(
        "F",
        "/f.py",
        "F",
        steps=(
            StepPlan("start", "start"),
            StepPlan("flow", "linear", ("start",)),
            StepPlan("end", "end", ("flow",)),
        ),
    )
    source = render_dag(plan, "/d/f_dag.py")
    assert "flow_step = MetaflowStepOperator(" in source
    assert "start >> flow_step" in source
    ast.parse(source)


def test_dag_records_its_format_version() -> None:
    assert "dag_format=2" in render_dag(PLAN, "/repo/dags/train_dag.py")


def test_a_step_named_like_a_renamed_step_keeps_its_own_variable() -> None:
    steps = ("start", "dag", "dag_step", "flow", "flow_step", "end")
    plan = FlowPlan(
        "F",
        "/f.py",
        "F",
        steps=tuple(
            StepPlan(name, "linear", (previous,) if previous else ())
            for previous, name in zip((None, *steps[:-1]), steps, strict=True)
        ),
    )
    source = render_dag(plan, "/d/f_dag.py")
    assignments = [
        node.targets[0].id
        for node in ast.walk(ast.parse(source))  # type: ignore[attr-defined]
        if isinstance(node, ast.Assign)
    ]
    assert len(assignments) == len(set(assignments))
    assert "dag_step >> dag_step" not in source


@pytest.mark.parametrize("default", [float("inf"), {"bounds": [0, float("nan")]}, object()])
def test_the_renderer_never_writes_a_default_that_is_not_a_literal(default: object) -> None:
    """The compiler refuses these with a Problem; should one slip through, no DAG is written."""
    plan = FlowPlan(
        "F",
        "/f.py",
        "F",
        steps=(StepPlan("start", "start"), StepPlan("end", "end", ("start",))),
        parameters=(ParameterPlan("limit", "number", default),),
    )
    with pytest.raises(ValueError):
        render_dag(plan, "/d/f_dag.py")
