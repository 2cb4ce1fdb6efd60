"""What `airflow create` refuses before writing anything: each refusal names the step, decorator,
Parameter or option, says why, and what to do; no DAG file (not even part of one) is written."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_metaflow.testing import create_dag


def _refused(flow_file: Path, dag_file: Path, *options: str) -> str:
    """`create`'s output for a flow it must refuse; checks that it wrote nothing."""
    with pytest.raises(subprocess.CalledProcessError) as failure:
        create_dag(flow_file, dag_file, *options)
    assert not dag_file.exists()
    assert list(dag_file.parent.glob(".metaflow-dag-*")) == []
    return " ".join((failure.value.stdout + failure.value.stderr).split())


# --- task ids: a step may not take the id of a task the compiler adds ---


def test_steps_named_like_the_sensor_splits_or_exit_hook_task_are_refused(
    flow_copy: Any, tmp_path: Path
) -> None:
    message = _refused(flow_copy("colliding_task_ids.py"), tmp_path / "colliding_dag.py")

    assert "3 problems" in message
    assert (
        "step 'wait_for_upstream': has Airflow task id 'wait_for_upstream', which is also the id of "
        "the sensor that waits for flow 'upstream' (@trigger_on_finish)"
    ) in message
    assert (
        "step 'outer__splits': has Airflow task id 'outer__splits', which is also the id of the "
        "splits task of nested foreach step 'outer'"
    ) in message
    assert (
        "step 'metaflow_exit_hook': has Airflow task id 'metaflow_exit_hook', which is also the id "
        "of the @exit_hook task"
    ) in message
    for step in ("wait_for_upstream", "outer__splits", "metaflow_exit_hook"):
        assert f"Rename step {step!r} to a name no other task of the DAG uses." in message


# --- Parameter defaults Airflow cannot carry ---


def test_inf_and_nan_defaults_are_refused_also_inside_json(flow_copy: Any, tmp_path: Path) -> None:
    message = _refused(flow_copy("non_finite_defaults.py"), tmp_path / "non_finite_dag.py")

    assert "4 problems" in message
    for name, text in (("limit", "inf"), ("floor", "-inf"), ("missing", "nan")):
        assert (
            f"parameter {name!r}: defaults to {text}, which Airflow cannot carry: it stores DAG params "
            f"as JSON, which has no inf or nan, so the scheduler would see the text {text!r}"
        ) in message
    assert "Use a finite default (for example 1e308 for 'no limit'), or default=None" in message
    assert (
        "parameter 'payload': has inf in its default (at ['bounds'][1]), which Airflow cannot carry"
        in message
    )
    assert "Use a finite number or null there" in message
    assert "parameter 'ratio'" not in message


def test_a_default_that_is_not_of_the_parameters_type_is_refused(flow_copy: Any, tmp_path: Path) -> None:
    message = _refused(flow_copy("mistyped_default.py"), tmp_path / "mistyped_dag.py")

    assert (
        "parameter 'count': has the default 'many', which is not a valid int (`python flow.py run` "
        "refuses it too). Give it a default of type int."
    ) in message


def test_airflow_turns_inf_into_text_when_it_serializes_a_dag_which_is_why_create_refuses_it() -> None:
    """What the scheduler (and dag.test()) work from: the serialized DAG. Should a later Airflow
    carry inf, this test fails, and the refusal above can go."""
    from airflow.sdk import DAG, Param
    from airflow.sdk.definitions.param import ParamValidationError
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG(
        "non_finite",
        schedule=None,
        params={"limit": Param(float("inf"), type="number"), "payload": Param({"x": float("nan")})},
    ) as dag:
        pass

    scheduled = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))

    assert scheduled.params["limit"] == "inf" and scheduled.params["payload"] == {"x": "nan"}
    with pytest.raises(ParamValidationError, match="'inf' is not of type 'number'"):
        scheduled.params.validate()


# --- @retry and @timeout: whole numbers, as Metaflow reads them ---


def test_retry_and_timeout_values_that_are_no_whole_number_are_refused(
    flow_copy: Any, tmp_path: Path
) -> None:
    message = _refused(flow_copy("refused_retry_timeout.py"), tmp_path / "retry_dag.py")

    assert "4 problems" in message
    for where, unit, example in (
        ("step 'start' @retry(times=1.5)", "retries", "@retry(times=3)"),
        (
            "step 'wait' @retry(minutes_between_retries='soon')",
            "minutes",
            "@retry(minutes_between_retries=2)",
        ),
        ("step 'quick' @timeout(seconds=1.5)", "seconds", "@timeout(seconds=60)"),
        ("step 'backwards' @timeout(minutes=-1)", "minutes", "@timeout(minutes=10)"),
    ):
        assert (
            f"{where}: must be a whole number of {unit}, 0 or more: Metaflow reads it as an integer. "
            f"Write an integer (or a string of digits), for example {example}."
        ) in message


def _plan_problems(flow: type) -> list[Any]:
    """The compiler's problems with `flow`, given its graph directly (as the deployer and tests may)."""
    from metaflow.graph import FlowGraph  # noqa: TID251 - tests use Metaflow internals

    from airflow_provider_metaflow.compiler.errors import FlowCompileError
    from airflow_provider_metaflow.compiler.flow_plan import DeployOptions, build_plan
    from metaflow_extensions.airflow_provider_metaflow.plugins import metaflow_deploy_adapter

    with pytest.raises(FlowCompileError) as failure:
        build_plan(
            flow, FlowGraph(flow), "/flows/f.py", DeployOptions(dag_id=flow.__name__), metaflow_deploy_adapter
        )
    return failure.value.problems


def test_words_in_retry_and_timeout_are_problems_also_where_metaflows_cli_does_not_stop_them_first() -> None:
    """Metaflow's CLI fails on these with its own traceback before `create` runs; the compiler
    reports them like any other problem for callers that give it the graph."""
    import metaflow

    class WordsFlow(metaflow.FlowSpec):
        @metaflow.retry(times="x")
        @metaflow.timeout(seconds="soon")
        @metaflow.step
        def start(self):  # type: ignore[no-untyped-def]
            self.next(self.end)

        @metaflow.step
        def end(self):  # type: ignore[no-untyped-def]
            pass

    problems = _plan_problems(WordsFlow)

    assert {problem.where for problem in problems} == {
        "step 'start' @retry(times='x')",
        "step 'start' @timeout(seconds='soon')",
    }


def test_a_pod_steps_timeout_that_is_no_whole_number_is_reported_once() -> None:
    """The task and the pod both read @timeout: one problem, not two."""
    import metaflow

    class PodTimeoutFlow(metaflow.FlowSpec):
        @metaflow.kubernetes(image="python:3.11")
        @metaflow.timeout(seconds=90.5)
        @metaflow.step
        def start(self):  # type: ignore[no-untyped-def]
            self.next(self.end)

        @metaflow.step
        def end(self):  # type: ignore[no-untyped-def]
            pass

    problems = _plan_problems(PodTimeoutFlow)

    assert [problem.where for problem in problems].count("step 'start' @timeout(seconds=90.5)") == 1


# --- options ---


@pytest.mark.parametrize("value", ["0", "-3"])
def test_max_workers_and_workflow_timeout_below_one_are_refused(
    value: str, flow_copy: Any, tmp_path: Path
) -> None:
    message = _refused(
        flow_copy("linear_flow.py"),
        tmp_path / "options_dag.py",
        "--max-workers",
        value,
        "--workflow-timeout",
        value,
    )

    assert "2 problems" in message
    assert (
        f"option --max-workers: is {value}, but it is how many tasks of a run may run at once (the DAG's "
        "max_active_tasks): below 1, Airflow would never start one. Pass --max-workers 1 or more, or "
        "leave it out for 100."
    ) in message
    assert (
        f"option --workflow-timeout: is {value}, but it is how many seconds a run may take (the DAG's "
        "dagrun_timeout): below 1, every run would time out. Pass --workflow-timeout 1 or more, or "
        "leave it out for no timeout."
    ) in message


def test_a_refused_option_is_reported_with_the_flows_own_problems(flow_copy: Any, tmp_path: Path) -> None:
    message = _refused(
        flow_copy("refused_retry_timeout.py"), tmp_path / "options_dag.py", "--max-workers", "0"
    )

    assert "5 problems" in message and "option --max-workers: is 0" in message


def test_the_deployer_refuses_what_create_cannot_compile_as_not_supported(
    flow_copy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metaflow's generic deployer suites look for "not supported". Nothing is written into the
    DAGs folder, and the deployment (nothing listens there) is never asked."""
    from metaflow import Deployer

    dags = tmp_path / "dags"
    monkeypatch.setenv("METAFLOW_AIRFLOW_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("METAFLOW_AIRFLOW_DAGS_FOLDER", str(dags))
    with pytest.raises(RuntimeError) as failure:
        Deployer(str(flow_copy("parallel_gang_flow.py")), show_output=False).airflow().create()
    assert "not supported" in str(failure.value)
    assert "@parallel" in str(failure.value)
    assert not dags.exists()
