"""The step operator keeps its arguments, and Airflow's templating and mapping still see them.

The constructor stores its arguments without BaseOperator.__setattr__ (a parse-time saving), so
these pin what that must not change: values, templating of ``env``, XCom dependencies found in a
template field, and the arguments Airflow records to unmap a mapped task.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG
from airflow.sdk.definitions.mappedoperator import MappedOperator

from airflow_provider_metaflow.flow import MetaflowFlow
from airflow_provider_metaflow.operators.foreach import MetaflowForeachOperator
from airflow_provider_metaflow.operators.step import MetaflowStepOperator

FLOW = MetaflowFlow("TrainFlow", file="flows/train.py")


def test_every_argument_is_kept_as_given() -> None:
    with DAG("args", schedule=None):
        op = MetaflowStepOperator(
            task_id="train",
            flow=FLOW,
            step="train",
            inputs=["start", "prepare"],
            foreach="start",
            join_of="outer",
            split_index=3,
            index_path=[1, 2],
            conditional=True,
            env={"A": "1"},
            environment={"B": "2"},
            compute_resources={"cpu": 2},
            error_retries=1,
            retries=2,
        )

    assert op.flow is FLOW
    assert (op.step, op.inputs, op.foreach, op.join_of) == ("train", ("start", "prepare"), "start", "outer")
    assert (op.split_index, op.index_path, op.conditional, op.error_retries) == (3, [1, 2], True, 1)
    assert (op.env, op.environment, op.compute_resources) == ({"A": "1"}, {"B": "2"}, {"cpu": 2})
    assert op.retries == 2


def test_defaults_are_fresh_empty_values_per_task() -> None:
    with DAG("defaults", schedule=None):
        first = MetaflowStepOperator(task_id="first", flow=FLOW, step="first")
        second = MetaflowStepOperator(task_id="second", flow=FLOW, step="second")

    assert (first.inputs, first.foreach, first.split_index, first.conditional) == ((), None, None, False)
    first.env["X"] = "1"
    assert second.env == {} and first.environment is not second.environment


def test_env_is_rendered_as_a_template() -> None:
    with DAG("templated", schedule=None):
        op = MetaflowStepOperator(task_id="t", flow=FLOW, step="t", env={"RUN": "{{ run_id }}"})

    op.render_template_fields({"run_id": "manual__1"})

    assert op.env == {"RUN": "manual__1"}


def test_an_xcom_value_in_env_makes_its_producer_upstream() -> None:
    with DAG("xcom_env", schedule=None):
        producer = MetaflowStepOperator(task_id="producer", flow=FLOW, step="producer")
        token: dict[str, Any] = {"TOKEN": producer.output}
        consumer = MetaflowStepOperator(task_id="consumer", flow=FLOW, step="consumer", env=token)
        late = MetaflowStepOperator(task_id="late", flow=FLOW, step="late")
        late.env = dict(token)

    assert consumer.upstream_task_ids == {"producer"}
    assert late.upstream_task_ids == {"producer"}


def test_a_mapped_step_unmaps_with_its_arguments() -> None:
    with DAG("mapped", schedule=None):
        start = MetaflowForeachOperator(task_id="start", flow=FLOW, step="start")
        body = MetaflowStepOperator.partial(
            task_id="body", flow=FLOW, step="body", inputs=["start"], foreach="start"
        ).expand(split_index=start.output)

    assert isinstance(body, MappedOperator)
    assert body.partial_kwargs["step"] == "body"
    assert body.partial_kwargs["inputs"] == ["start"]
    assert body.upstream_task_ids == {"start"}
