"""@exit_hook runs after the flow succeeds or fails, as with `python flow.py run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_metaflow.testing import create_dag, run_dag, run_flow_locally

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("fail", "expected_line", "state"), [(False, "success True", "success"), (True, "error False", "failed")]
)
def test_exit_hook_matches_the_local_runtime(
    fail: bool,
    expected_line: str,
    state: str,
    flow_copy: Any,
    dag_path: Path,
    airflow_db: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flow_file = flow_copy("exit_hook_flow.py")
    create_dag(flow_file, dag_path)
    airflow_log, local_log = tmp_path / "airflow.log", tmp_path / "local.log"

    monkeypatch.setenv("EXIT_HOOK_LOG", str(airflow_log))
    result = run_dag(dag_path, conf={"fail": fail})
    monkeypatch.setenv("EXIT_HOOK_LOG", str(local_log))
    if fail:
        with pytest.raises(AssertionError):
            run_flow_locally(flow_file, {"fail": fail})
    else:
        run_flow_locally(flow_file, {"fail": fail})

    assert result.state == state  # the hook, a teardown, does not change the run's state
    assert airflow_log.read_text() == local_log.read_text() == expected_line + "\n"
