"""Stopping the services leaves nothing behind: no service, no worker, no task process."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_metaflow.testing.services import AirflowServices, ServicesConfig, ServicesError

pytestmark = pytest.mark.services

SLEEPER = """
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("svc_stop", schedule=None):
    BashOperator(task_id="sleep", bash_command='echo "$SERVICES_TEST_MARK" > "$SERVICES_TEST_OUT"; sleep 600')
"""


def _processes() -> dict[int, tuple[int, int, str]]:
    """{pid: (parent pid, process group, state)} of every process, read from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        table[int(entry)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def _descendants(roots: set[int]) -> set[int]:
    table = _processes()
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, (parent, group, _state) in table.items():
            if pid not in found and (parent in found or group in roots):
                found.add(pid)
                grew = True
    return found


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid, (_parent, _group, state) in _processes().items() if pid in pids and state != "Z"}


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _wait_for_sleeper(roots: set[int], seconds: float = 60.0) -> set[int]:
    """The process tree under `roots` once the task's `sleep 600` runs in it."""
    deadline = time.monotonic() + seconds
    while True:
        tree = _descendants(roots)
        if any(_cmdline(pid) == ["sleep", "600"] for pid in tree):
            return tree
        if time.monotonic() > deadline:
            raise AssertionError(f"no `sleep 600` under the services after {seconds:.0f} s")
        time.sleep(0.2)


def test_stop_leaves_no_service_or_task_process_alive(
    airflow_services_factory: Callable[..., AirflowServices], tmp_path: Path
) -> None:
    out = tmp_path / "mark.txt"
    services = airflow_services_factory(
        extra_env={"SERVICES_TEST_MARK": "seen by the task", "SERVICES_TEST_OUT": str(out)}
    )
    assert set(services.pids) == {"api-server", "scheduler", "dag-processor", "triggerer"}
    (services.config.dags_folder / "svc_stop.py").write_text(SLEEPER)
    services.register_dags("svc_stop")
    run_id = services.rest.trigger_dag_run("svc_stop")
    services.rest.wait_for_task_instance("svc_stop", run_id, "sleep", {"running"}, timeout=120)
    started = set(services.pids.values())
    tree = _wait_for_sleeper(started)  # services, workers, log servers and the task's processes
    assert out.read_text().strip() == "seen by the task"  # extra_env reaches task processes

    services.stop()
    services.stop()  # a second call is harmless

    assert _alive(tree) == set()
    groups = {group for _parent, group, state in _processes().values() if state != "Z"}
    assert groups.isdisjoint(started)


def test_services_not_healthy_in_time_fail_with_each_log_and_are_stopped(tmp_path: Path) -> None:
    config = ServicesConfig(
        airflow_home=tmp_path / "home", dags_folder=tmp_path / "dags", startup_timeout=0.5
    )
    services = AirflowServices(config)

    with pytest.raises(ServicesError) as failure:
        services.start()

    message = str(failure.value)
    assert "not healthy after" in message
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert f"--- last lines of {services.log_path(component)} ---" in message
    assert _alive(_descendants(set(services.pids.values()))) == set()
