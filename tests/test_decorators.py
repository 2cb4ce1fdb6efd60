"""Step decorators behave on Airflow as they do with Metaflow's own runtime."""

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


def _comparable(run: Any) -> dict[str, Any]:
    """Artifacts, with the caught exception reduced to its last line (the wrapper has no ==)."""
    artifacts = task_artifacts(run)
    for tasks in artifacts.values():
        for values in tasks.values():
            for name in ("failure", "failure_text"):
                if values.get(name) is not None:
                    values[name] = str(values[name]).strip().splitlines()[-1]
    return artifacts


def test_decorated_flow_matches_the_local_run(
    flow_copy: Any, dag_path: Path, airflow_db: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    flow_file = flow_copy("decorators_flow.py")
    create_dag(flow_file, dag_path)
    dag_source = dag_path.read_text()

    result = run_dag(dag_path)
    output = capfd.readouterr().out

    assert result.state == "success"
    run = result.run()
    local = run_flow_locally(flow_file)
    assert task_counts(run) == task_counts(local)
    assert _comparable(run) == _comparable(local)
    # @catch with @retry(times=1): user code ran twice, the second exception was caught
    caught = run["caught"].task
    assert caught.current_attempt == 1
    assert caught["attempts_seen"].data == 1
    assert "always fails, attempt 1" in run["end"].task["failure_text"].data
    # @environment values are data, not templates or shell
    assert run["configured"].task["greeting"].data == "{{ not jinja }} $(not shell) 'quoted'"
    # @secrets resolve inside the task and never reach the DAG file or the Airflow log
    assert run["configured"].task["token_length"].data == len("tok-9c1e")
    assert "tok-9c1e" not in dag_source and "tok-9c1e" not in output
    # @resources is recorded for compute backends
    assert "compute_resources={'cpu': 2, 'memory': 2048" in dag_source
    # @card produced a card for the start task
    from metaflow.cards import get_cards

    assert len(get_cards(run["start"].task)) == 1
