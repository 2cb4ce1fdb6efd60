"""The rules of `xcom_artifacts=`: names checked at DAG parse, the bound read where the task runs,
one JSON-and-size check for both sides of a step, and all-or-nothing failures naming each artifact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_metaflow.execution import xcom_artifacts as xcom
from airflow_provider_metaflow.execution.step_try import checked
from airflow_provider_metaflow.flow import MetaflowFlow
from airflow_provider_metaflow.operators.step import MetaflowStepOperator
from airflow_provider_metaflow.version_compat import AirflowFailException, get_dagbag_class
from metaflow_extensions.airflow_provider_metaflow.plugins.contract import (
    TaskResult,
    XComArtifacts,
    xcom_value_problem,
)

FLOW = MetaflowFlow("TrainFlow", file="flows/train.py")


@pytest.mark.parametrize(
    "value",
    [None, True, 3, -0.5, "text", [1, "a", None], {"nested": {"list": [1.25, False]}}, "é" * 10],
)
def test_json_values_that_read_back_unchanged_can_go(value: Any) -> None:
    assert xcom_value_problem(value, 1000) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({1, 2}, "it is a set, which is not a JSON type"),
        ({"at": {"x"}}, "it is a dict holding a set, which is not a JSON type"),
        ([Path("/tmp")], "it is a list holding a pathlib.PosixPath, which is not a JSON type"),
        (float("nan"), "it is a float that is not JSON (Out of range float values are not JSON compliant"),
        ({"x": float("inf")}, "it is a dict that is not JSON (Out of range float values"),
        ((1, 2), "it is a tuple that JSON would change (a tuple reads back as a list"),
        ({1: "one"}, "it is a dict that JSON would change"),
        ({(1, 2): "pair"}, "it is a dict that is not JSON (keys must be str"),
    ],
)
def test_values_json_cannot_hold_or_would_change_are_refused_by_type(value: Any, why: str) -> None:
    problem = xcom_value_problem(value, 1000)

    assert problem is not None and problem.startswith(why), problem


def test_the_bound_is_on_the_json_text_in_bytes() -> None:
    text = "x" * 8  # "xxxxxxxx" with its quotes: 10 bytes

    assert xcom_value_problem(text, 10) is None
    assert xcom_value_problem(text, 9) == "its JSON text is 10 bytes, over the bound of 9 bytes"


def test_collect_reports_every_problem_at_once() -> None:
    artifacts = {"fine": {"a": 1}, "odd": {1, 2}, "long": "y" * 50}

    def read(name: str) -> Any:
        if name == "unreadable":
            raise ModuleNotFoundError("No module named 'sklearn'")
        return artifacts[name]

    wanted = XComArtifacts(["fine", "odd", "long", "absent", "unreadable"], max_bytes=20)
    values, problems = wanted.collect(read)

    assert values == {"fine": {"a": 1}}
    assert problems == {
        "odd": "it is a set, which is not a JSON type",
        "long": "its JSON text is 52 bytes, over the bound of 20 bytes",
        "absent": "the task has no artifact of that name",
        "unreadable": "it cannot be loaded here (ModuleNotFoundError: No module named 'sklearn')",
    }


def test_a_result_file_written_before_the_xcom_fields_still_reads() -> None:
    old = json.dumps({"pathspec": "F/r/s/t", "attempt": 0, "task_ok": True, "next_steps": ["end"]})

    result = TaskResult.from_json(old)

    assert (result.xcom_values, result.xcom_problems) == ({}, {})
    new = TaskResult("F/r/s/t", 0, True, xcom_values={"m": {"a": [1]}}, xcom_problems={"x": "why"})
    assert TaskResult.from_json(new.to_json()) == new


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (
            ["pathspec"],
            "Task 'train': xcom_artifacts names 'pathspec', an XCom key the provider pushes itself",
        ),
        (["next_steps"], "names 'next_steps', an XCom key the provider pushes itself"),
        (["return_value"], "names 'return_value', an XCom key the provider pushes itself"),
        (["metrics", "metrics"], "Task 'train': xcom_artifacts names 'metrics' twice"),
        (["not-a-name"], "names 'not-a-name', which is not an artifact name"),
        (["class"], "names 'class', which is not an artifact name"),
        (["_foreach_stack"], "names '_foreach_stack': names starting with '_' belong to Metaflow's"),
        ("metrics", "xcom_artifacts is the string 'metrics'; give a list of artifact names: ['metrics']"),
    ],
)
def test_bad_names_fail_at_parse_naming_the_task_and_the_artifact(names: Any, message: str) -> None:
    with DAG("bad_names", schedule=None), pytest.raises(ValueError) as raised:
        MetaflowStepOperator(task_id="train", flow=FLOW, step="train", xcom_artifacts=names)

    assert message in str(raised.value)


def test_a_mapped_step_checks_its_names_at_parse_too() -> None:
    with DAG("bad_mapped", schedule=None), pytest.raises(ValueError) as raised:
        MetaflowStepOperator.partial(
            task_id="body", flow=FLOW, step="body", foreach="start", xcom_artifacts=["return_value"]
        )

    assert "Task 'body': xcom_artifacts names 'return_value'" in str(raised.value)


def test_a_dag_file_with_a_reserved_name_is_an_import_error_naming_it(tmp_path: Path) -> None:
    dag_file = tmp_path / "reserved_dag.py"
    dag_file.write_text(
        "from airflow.sdk import DAG\n"
        "from airflow_provider_metaflow import MetaflowFlow, MetaflowStepOperator\n"
        "flow = MetaflowFlow('TrainFlow', file='flows/train.py')\n"
        "with DAG('reserved', schedule=None):\n"
        "    MetaflowStepOperator(task_id='end', flow=flow, step='end', xcom_artifacts=['next_steps'])\n"
    )

    bag = get_dagbag_class()(dag_folder=str(dag_file))

    (error,) = bag.import_errors.values()
    assert "Task 'end': xcom_artifacts names 'next_steps'" in error


@pytest.mark.parametrize("bound", [0, -1, 1.5, True])
def test_a_bound_that_is_not_a_positive_whole_number_fails_at_parse(bound: Any) -> None:
    with DAG("bad_bound", schedule=None), pytest.raises(ValueError) as raised:
        MetaflowStepOperator(
            task_id="t", flow=FLOW, step="t", xcom_artifacts=["m"], xcom_artifact_max_bytes=bound
        )

    assert f"Task 't': xcom_artifact_max_bytes is {bound!r}" in str(raised.value)


def test_the_bound_is_the_operators_else_the_config_where_the_task_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIRFLOW__METAFLOW__XCOM_ARTIFACT_MAX_BYTES", raising=False)
    assert xcom.request(["m"], None) == XComArtifacts(["m"], 65536)
    assert xcom.request((), None) is None

    monkeypatch.setenv("AIRFLOW__METAFLOW__XCOM_ARTIFACT_MAX_BYTES", "1234")
    assert xcom.request(["m"], None) == XComArtifacts(["m"], 1234)
    assert xcom.request(["m"], 99) == XComArtifacts(["m"], 99)

    monkeypatch.setenv("AIRFLOW__METAFLOW__XCOM_ARTIFACT_MAX_BYTES", "64k")
    with pytest.raises(AirflowFailException, match=r"\[metaflow\] xcom_artifact_max_bytes is '64k'"):
        xcom.request(["m"], None)


def test_checked_fails_for_good_naming_every_artifact_and_what_to_do() -> None:
    wanted = XComArtifacts(["fine", "odd", "unreported"], 100)
    result = TaskResult(
        "TrainFlow/airflow-1/end/t",
        0,
        True,
        next_steps=[],
        xcom_values={"fine": 1},
        xcom_problems={"odd": "it is a set, which is not a JSON type"},
    )

    with pytest.raises(AirflowFailException) as raised:
        checked(result, wanted)

    message = str(raised.value)
    assert message.startswith(
        "Step 'end': Metaflow task TrainFlow/airflow-1/end/t succeeded, but 2 artifacts in xcom_artifacts"
    )
    assert "'odd': it is a set, which is not a JSON type" in message
    assert "'unreported': the step's backend reported no value for it" in message
    assert "None of the step's artifacts was pushed" in message
    assert "read them with the Metaflow client from the task's pathspec (XCom key 'pathspec')" in message


def test_an_iteration_that_loops_again_pushes_nothing_and_is_not_checked() -> None:
    wanted = XComArtifacts(["settled"], 100)
    looping = TaskResult("F/r/settle/t-i0", 0, True, next_steps=["settle"])

    assert checked(looping, wanted) is looping
    assert xcom.problems(TaskResult("F/r/settle/t-i1", 0, True, next_steps=["end"]), wanted) == {
        "settled": "the step's backend reported no value for it"
    }
