"""Shapes Metaflow's own Airflow integration refused run on Airflow as with `python flow.py run`:
the same artifacts, the same tasks per step, and the same foreach stack on every task."""

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


def _foreach_stacks(run: Any) -> dict[str, list[tuple[tuple[int, Any], ...]]]:
    """Per step, the (index, value) foreach frames of every task, sorted."""
    return {
        step.id: sorted(
            tuple((frame.index, frame.value) for frame in task["_foreach_stack"].data) for task in step
        )
        for step in run
    }


def _assert_same_run(airflow_run: Any, local_run: Any) -> None:
    assert airflow_run.successful
    assert task_counts(airflow_run) == task_counts(local_run)
    assert task_artifacts(airflow_run) == task_artifacts(local_run)
    assert _foreach_stacks(airflow_run) == _foreach_stacks(local_run)


@pytest.mark.parametrize("flow_name", ["nested_foreach_flow.py", "branchy_foreach_flow.py"])
def test_shape_matches_the_local_run(flow_name: str, flow_copy: Any, dag_path: Path, airflow_db: Any) -> None:
    flow_file = flow_copy(flow_name)
    create_dag(flow_file, dag_path)

    result = run_dag(dag_path)

    assert result.state == "success"
    _assert_same_run(result.run(), run_flow_locally(flow_file))


@pytest.mark.parametrize("size", [pytest.param("small", marks=pytest.mark.slow), "big"])
def test_switch_runs_only_the_chosen_branch_and_skips_the_others(
    size: str, flow_copy: Any, dag_path: Path, airflow_db: Any
) -> None:
    flow_file = flow_copy("switch_flow.py")
    create_dag(flow_file, dag_path)

    result = run_dag(dag_path, conf={"size": size})

    assert result.state == "success"
    run = result.run()
    _assert_same_run(run, run_flow_locally(flow_file, {"size": size}))
    taken = {"small": {"small", "small_more"}, "big": {"big", "big_body", "big_join"}}[size]
    not_taken = {"small", "small_more", "big", "big_body", "big_join"} - taken
    assert taken <= {step.id for step in run} and not not_taken & {step.id for step in run}
    states = _airflow_states(result)
    assert {states[name] for name in taken} == {"success"}
    assert {states[name] for name in not_taken} == {"skipped"}
    assert states["merge"] == states["end"] == "success"


def test_switch_inside_a_foreach_takes_a_branch_per_split(
    flow_copy: Any, dag_path: Path, airflow_db: Any
) -> None:
    flow_file = flow_copy("switch_in_foreach_flow.py")
    create_dag(flow_file, dag_path)

    result = run_dag(dag_path)

    assert result.state == "success"
    run = result.run()
    _assert_same_run(run, run_flow_locally(flow_file))
    assert run["join"].task["labels"].data == ["1 is odd!", "2 is even", "3 is odd!", "4 is even"]


def _airflow_states(result: Any) -> dict[str, str]:
    """The state of every task of the DAG run (for mapped tasks: 'success' if any instance ran)."""
    from airflow.models.taskinstance import TaskInstance  # noqa: TID251 - reading the test database
    from airflow.utils.session import create_session

    states: dict[str, set[str]] = {}
    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=result.dag_id, run_id=result.airflow_run_id)
        for ti in rows:
            states.setdefault(ti.task_id, set()).add(str(ti.state))
    return {task: "success" if "success" in seen else seen.pop() for task, seen in states.items()}


def test_foreach_over_an_empty_list_fails_as_metaflow_does(
    flow_copy: Any, dag_path: Path, airflow_db: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    flow_file = flow_copy("empty_foreach_flow.py")
    create_dag(flow_file, dag_path)

    result = run_dag(dag_path)

    assert result.state == "failed"
    assert "produced zero splits" in capfd.readouterr().out
    with pytest.raises(AssertionError, match="produced zero splits"):
        run_flow_locally(flow_file)


def _tasks_per_step(run: Any) -> dict[str, list[str]]:
    """Per step, every task's user artifacts (sorted reprs): loop iterations share an index path."""
    return {
        step.id: sorted(
            repr(sorted((a.id, a.data) for a in task if not a.id.startswith("_") and a.id != "name"))
            for task in step
        )
        for step in run
    }


def test_switch_branches_straight_into_a_foreach_join_join_the_split_that_ran(
    flow_copy: Any, dag_path: Path, airflow_db: Any
) -> None:
    flow_file = flow_copy("switch_into_foreach_join_flow.py")
    create_dag(flow_file, dag_path)

    result = run_dag(dag_path)

    assert result.state == "success"
    run = result.run()
    _assert_same_run(run, run_flow_locally(flow_file))
    assert run["join"].task["labels"].data == ["1 is odd", "2 is even", "3 is odd"]
    assert len(list(run["handle_odd"])) == 2 and len(list(run["handle_even"])) == 1


@pytest.mark.parametrize("size", [pytest.param("small", marks=pytest.mark.slow), "big"])
def test_switch_branches_straight_into_a_branch_join(
    size: str, flow_copy: Any, dag_path: Path, airflow_db: Any
) -> None:
    flow_file = flow_copy("switch_into_branch_join_flow.py")
    create_dag(flow_file, dag_path)

    result = run_dag(dag_path, conf={"size": size})

    assert result.state == "success"
    run = result.run()
    _assert_same_run(run, run_flow_locally(flow_file, {"size": size}))
    assert run["join"].task["results"].data == sorted([f"{size} result", "other result"])


def test_recursive_step_loops_in_one_task_and_a_retry_lands_on_the_failed_iteration(
    flow_copy: Any, dag_path: Path, airflow_db: Any
) -> None:
    flow_file = flow_copy("recursive_flow.py")
    create_dag(flow_file, dag_path)
    assert "MetaflowLoopOperator(" in dag_path.read_text()

    result = run_dag(dag_path)

    assert result.state == "success"
    run = result.run()
    local = run_flow_locally(flow_file)
    assert _tasks_per_step(run) == _tasks_per_step(local)
    loop = {task.id: task for task in run["loop"]}
    assert sorted(loop) == ["t-i0", "t-i1", "t-i2", "t-i3"]
    # iterations 0 and 1 finished in the first Airflow try; the retry resumed at iteration 2
    assert {name: task.current_attempt for name, task in loop.items()} == {
        "t-i0": 0,
        "t-i1": 0,
        "t-i2": 1,
        "t-i3": 0,
    }
    assert run["end"].task["history"].data == [(0, 0), (1, 0), (2, 1), (3, 0)]
    states = _airflow_states(result)
    assert states["loop"] == "success"


def test_recursive_step_inside_a_foreach_loops_per_split(
    flow_copy: Any, dag_path: Path, airflow_db: Any
) -> None:
    flow_file = flow_copy("recursive_in_foreach_flow.py")
    create_dag(flow_file, dag_path)

    result = run_dag(dag_path)

    assert result.state == "success"
    run = result.run()
    assert _tasks_per_step(run) == _tasks_per_step(run_flow_locally(flow_file))
    assert run["join"].task["steps_per_item"].data == {0: [0], 1: [0, 1], 2: [0, 1, 2], 3: [0, 1, 2, 3]}
    assert len(list(run["loop"])) == 1 + 2 + 3 + 4


def test_config_values_keep_metaflows_key_order(flow_copy: Any, dag_path: Path, airflow_db: Any) -> None:
    flow_file = flow_copy("config_order_flow.py")
    create_dag(flow_file, dag_path)

    result = run_dag(dag_path)

    assert result.state == "success"
    run = result.run()
    _assert_same_run(run, run_flow_locally(flow_file))
    start = run["start"].task
    assert start["plain_keys"].data == ["zulu", "alpha", "mike"]
    assert start["parsed_keys"].data == ["zeta", "alpha", "mid"]
    assert start["parsed_nested_keys"].data == ["y", "b", "a", "z", "c"]
