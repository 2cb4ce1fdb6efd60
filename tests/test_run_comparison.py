"""Comparing two Metaflow runs of a flow sees every task: a task run twice at one foreach index
path is one entry of `task_artifacts`, and `task_counts` (compared with it everywhere) counts it."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from airflow_provider_metaflow.testing import run_flow_locally, task_artifacts, task_counts

pytestmark = pytest.mark.e2e


def _run_split_again(flow_file: Any, run: Any, step: str, split_index: int, task_id: str) -> None:
    """Run one foreach split of a finished run once more, under a new task id, with Metaflow's own
    `step` command: the run then has two tasks at that split's index path."""
    argv = [
        sys.executable,
        str(flow_file),
        "--quiet",
        "step",
        step,
        "--run-id",
        run.id,
        "--task-id",
        task_id,
        "--input-paths",
        run["start"].task.pathspec.split("/", 1)[1],
        "--split-index",
        str(split_index),
        "--retry-count",
        "0",
        "--max-user-code-retries",
        "0",
    ]
    subprocess.run(  # noqa: S603 - argv list
        argv, cwd=os.path.dirname(flow_file), check=True, capture_output=True, text=True, timeout=300
    )


def test_a_task_run_twice_at_one_index_path_is_counted_twice(flow_copy: Any) -> None:
    from metaflow import Run

    flow_file = flow_copy("foreach_flow.py")
    clean = run_flow_locally(flow_file)
    duplicated = run_flow_locally(flow_file)

    _run_split_again(flow_file, duplicated, "measure", 0, "measure-again-0")

    duplicated = Run(duplicated.pathspec, _namespace_check=False)
    assert task_counts(clean) == {"start": 1, "measure": 4, "join": 1, "end": 1}
    assert task_counts(duplicated) == {"start": 1, "measure": 5, "join": 1, "end": 1}
    # Keyed by index path, the two tasks of split 0 are one entry: artifacts alone cannot tell.
    assert task_artifacts(duplicated) == task_artifacts(clean)
    assert task_counts(duplicated) != task_counts(clean)
