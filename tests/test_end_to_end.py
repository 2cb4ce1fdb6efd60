"""Flows compiled and run through Airflow's dag.test() produce the same Metaflow run as
`python flow.py run`: same steps, same task count per step, same artifacts."""

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

CASES = {
    "linear_flow.py": {"alpha": 1.5, "count": 4, "label": "it's {{ not jinja }} $(echo no)", "loud": True},
    "branch_flow.py": {},
    "foreach_flow.py": {},
    "foreach_multistep_flow.py": {},
}


def _assert_same_run(airflow_run: Any, local_run: Any) -> None:
    assert airflow_run.successful, f"{airflow_run} did not succeed"
    assert task_counts(airflow_run) == task_counts(local_run)
    assert task_artifacts(airflow_run) == task_artifacts(local_run)


@pytest.mark.parametrize(
    "flow_name",
    [
        pytest.param(name, marks=[pytest.mark.compat] if name == "foreach_flow.py" else [])
        for name in sorted(CASES)
    ],
)
def test_airflow_run_matches_local_run(
    flow_name: str, flow_copy: Any, dag_path: Path, airflow_db: Any
) -> None:
    flow_file = flow_copy(flow_name)
    conf = CASES[flow_name]
    create_dag(flow_file, dag_path)

    result = run_dag(dag_path, conf=conf)

    assert result.state == "success"
    _assert_same_run(result.run(), run_flow_locally(flow_file, conf))


def test_retried_step_succeeds_on_metaflow_attempt_one(
    flow_copy: Any, dag_path: Path, airflow_db: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    from metaflow import Task

    flow_file = flow_copy("retry_flow.py")
    create_dag(flow_file, dag_path)

    result = run_dag(dag_path, conf={"greeting": "hi"})

    run = result.run()
    assert result.state == "success" and run.successful
    flaky = run["flaky"].task
    assert flaky.current_attempt == 1
    assert flaky["attempt_seen"].data == 1
    first_attempt = Task(flaky.pathspec, attempt=0, _namespace_check=False)
    assert "first attempt fails on purpose" in first_attempt.stderr
    # start failed once: its retry must reuse the stored Parameters, not run init again
    assert run["start"].task.current_attempt == 1
    assert "were already stored; not running init again" in capfd.readouterr().out
    assert run["end"].task["message"].data == "hi!"
    _assert_same_run(run, run_flow_locally(flow_file, {"greeting": "hi"}))


def test_foreach_wider_than_max_map_length_fails_naming_the_setting(
    flow_copy: Any,
    dag_path: Path,
    airflow_db: Any,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    flow_file = flow_copy("foreach_flow.py")
    create_dag(flow_file, dag_path)
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "3")

    result = run_dag(dag_path)

    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "produced 4 splits" in output and "core.max_map_length = 3" in output


def test_step_output_is_in_metaflow_task_logs(flow_copy: Any, dag_path: Path, airflow_db: Any) -> None:
    flow_file = flow_copy("foreach_flow.py")
    create_dag(flow_file, dag_path)

    run = run_dag(dag_path).run()

    assert "lengths [1, 2, 3, 4]" in run["end"].task.stdout
    assert sorted(task.stdout.strip() for task in run["measure"]) == [
        "measured a",
        "measured bb",
        "measured ccc",
        "measured dddd",
    ]
