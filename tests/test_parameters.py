"""Every Parameter kind and Config values reach the flow on Airflow exactly as with `python flow.py run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_metaflow.testing import (
    create_dag,
    run_dag,
    run_flow_locally,
    task_artifacts,
    task_counts,
)

pytestmark = pytest.mark.e2e

TRICKY = "quote ' \" {{ ds }} {% if %} $(rm -rf /) `id` ; && | \\n newline\nünïcødé ✓ ${HOME}"


@pytest.fixture
def parameters_flow(flow_copy: Any) -> Path:
    flow_file: Path = flow_copy("parameters_flow.py")
    return flow_file


def test_every_parameter_kind_matches_the_local_run(
    parameters_flow: Path, dag_path: Path, airflow_db: Any
) -> None:
    conf = {
        "needed": 7,
        "text": TRICKY,
        "mapping": {"nested": {"list": [1, "two", None], "quote": TRICKY}},
        "items": ["x", 2, 3.5, False],
        "flag": False,
        "ratio": 2.75,
        "tags_csv": "a,b,c",
    }
    create_dag(parameters_flow, dag_path)

    result = run_dag(dag_path, conf=conf)

    assert result.state == "success"
    airflow_run = result.run()
    local_run = run_flow_locally(parameters_flow, conf)
    assert task_counts(airflow_run) == task_counts(local_run)
    assert task_artifacts(airflow_run) == task_artifacts(local_run)
    seen = airflow_run["start"].task["seen"].data
    assert seen["text"] == TRICKY
    assert seen["mapping"] == conf["mapping"]
    assert seen["items"] == conf["items"]
    assert seen["flag"] is False and seen["needed"] == 7
    assert seen["owner"] == "owner-of-ParametersFlow"
    assert seen["tags_csv"] == ["a", "b", "c"]
    assert seen["from_config"] == 0.25
    assert seen["notes"].startswith("first line of notes\nsecond: {{ braces }}")
    assert seen["maybe"] is None
    assert seen["settings"] == {"alpha": 0.25, "label": "from {{ config }}"}
    assert airflow_run["end"].task["label"].data == "from {{ config }}"


def test_defaults_apply_when_the_trigger_sets_only_required_parameters(
    parameters_flow: Path, dag_path: Path, airflow_db: Any
) -> None:
    create_dag(parameters_flow, dag_path)

    result = run_dag(dag_path, conf={"needed": 1})

    assert result.state == "success"
    airflow_run, local_run = result.run(), run_flow_locally(parameters_flow, {"needed": 1})
    assert task_counts(airflow_run) == task_counts(local_run)
    assert task_artifacts(airflow_run) == task_artifacts(local_run)


@pytest.mark.parametrize(
    ("conf", "name"),
    [({"needed": "seven"}, "needed"), ({"needed": 1, "flag": "maybe"}, "flag"), ({}, "needed")],
)
def test_a_wrong_or_missing_value_is_rejected_before_any_task_starts(
    conf: dict[str, Any], name: str, parameters_flow: Path, dag_path: Path, airflow_db: Any
) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    create_dag(parameters_flow, dag_path)

    with pytest.raises(ParamValidationError, match=name):
        run_dag(dag_path, conf=conf)
