"""A Metaflow step run by Airflow ends with its task: timeouts end the step and its children."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from process_helpers import wait_dead

from airflow_provider_metaflow.testing import run_dag

pytestmark = pytest.mark.e2e

HAND_WRITTEN_DAG = """
import datetime
from airflow.sdk import DAG
from airflow_provider_metaflow import MetaflowFlow, MetaflowStepOperator

flow = MetaflowFlow("SleepyFlow", file={flow_file!r}, parameters=[])

with DAG(dag_id="sleepy", schedule=None) as dag:
    start = MetaflowStepOperator(task_id="start", flow=flow, step="start")
    sleep = MetaflowStepOperator(
        task_id="sleep", flow=flow, step="sleep", inputs=["start"],
        env={{"SLEEPY_PID_FILE": {pid_file!r}}},
        execution_timeout=datetime.timedelta(seconds=6),
    )
    end = MetaflowStepOperator(task_id="end", flow=flow, step="end", inputs=["sleep"])
    start >> sleep >> end
"""


def test_execution_timeout_ends_step_and_its_children(
    flow_copy: Any, dag_path: Path, airflow_db: Any, tmp_path: Path
) -> None:
    flow_file = flow_copy("sleepy_flow.py")
    pid_file = tmp_path / "pids"
    dag_path.write_text(HAND_WRITTEN_DAG.format(flow_file=str(flow_file), pid_file=str(pid_file)))

    started = time.monotonic()
    result = run_dag(dag_path)

    assert result.state == "failed"
    assert time.monotonic() - started < 120
    step_pid, grandchild_pid = (int(pid) for pid in pid_file.read_text().split())
    assert wait_dead(step_pid), "the Metaflow step outlived its timed-out task"
    assert wait_dead(grandchild_pid), "a process started by the step outlived its timed-out task"
    killed = result.run()["sleep"].task  # Metaflow records the attempt as failed, not unfinished
    assert killed.finished_at is not None and not killed.successful
    assert "terminated by Airflow" in str(killed.exception)
