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
