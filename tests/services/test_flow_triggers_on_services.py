"""Flow-to-flow events under real Airflow services: @trigger_on_finish through the upstream flow's
Asset and through a sensor, @trigger through a named event's Asset, and a native DAG scheduled on
a flow's Asset. The triggering run is `current.trigger.run` in the downstream flow."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_metaflow.runtime.ids import metaflow_run_id
from airflow_provider_metaflow.testing import create_dag
from airflow_provider_metaflow.testing.rest import AirflowRestClient, DagRun
from airflow_provider_metaflow.testing.services import AirflowServices

pytestmark = pytest.mark.services

FLOWS = Path(__file__).resolve().parent.parent / "flows"

NATIVE_DAG = """
from pathlib import Path
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset


def record(**context):
    events = context["triggering_asset_events"]
    pathspecs = [event.extra["pathspec"] for asset in events for event in events[asset]]
    Path({out!r}).write_text(",".join(pathspecs))


with DAG("native_after_upstream", schedule=[Asset("metaflow://UpstreamFlow")]):
    PythonOperator(task_id="record", python_callable=record)
"""


@pytest.fixture(scope="module")
def services(airflow_services: AirflowServices, tmp_path_factory: pytest.TempPathFactory) -> AirflowServices:
    dags = airflow_services.config.dags_folder
    flows = dags / "flows"
    flows.mkdir(parents=True, exist_ok=True)
    for name in ("upstream_flow.py", "downstream_flow.py", "event_flow.py"):
        shutil.copy(FLOWS / name, flows / name)
    # Compiled against a datastore where UpstreamFlow was never deployed: it waits with a sensor.
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    waits = dags / "downstream_waits_dag.py"
    create_dag(
        flows / "downstream_flow.py",
        waits,
        name="DownstreamWaits",
        env={"METAFLOW_DATASTORE_SYSROOT_LOCAL": str(elsewhere), "METAFLOW_HOME": str(elsewhere / "home")},
    )
    waits.write_text(waits.read_text().replace("poke_interval=60", "poke_interval=2"))  # a quick test
    create_dag(flows / "upstream_flow.py", dags / "upstream_dag.py")
    create_dag(flows / "downstream_flow.py", dags / "downstream_dag.py")  # now: on UpstreamFlow's Asset
    create_dag(flows / "event_flow.py", dags / "event_dag.py")
    out = tmp_path_factory.mktemp("native") / "pathspecs"
    (dags / "native_after_upstream_dag.py").write_text(NATIVE_DAG.format(out=str(out)))
    airflow_services.register_dags(
        "UpstreamFlow", "DownstreamFlow", "DownstreamWaits", "EventFlow", "native_after_upstream"
    )
    airflow_services.native_out = out  # type: ignore[attr-defined]
    return airflow_services


def _started_run(rest: AirflowRestClient, dag_id: str, after: set[str], timeout: float = 300) -> DagRun:
    """The first run of `dag_id` not in `after`, once it finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [run for run in rest.dag_runs(dag_id) if run.run_id not in after]
        if new:
            return rest.wait_for_dag_run(dag_id, new[0].run_id, timeout=max(deadline - time.monotonic(), 30))
        time.sleep(0.5)
    raise AssertionError(f"no run of {dag_id} started within {timeout:.0f} s")


def _artifact(dag_id: str, flow: str, run_id: str, step: str, name: str) -> Any:
    from metaflow import Run

    return Run(f"{flow}/{metaflow_run_id(dag_id, run_id)}", _namespace_check=False)[step].task[name].data


def test_a_finished_upstream_run_starts_the_downstream_flow_and_is_its_trigger_run(
    services: AirflowServices,
) -> None:
    rest = services.rest
    before = {run.run_id for dag in ("DownstreamFlow", "native_after_upstream") for run in rest.dag_runs(dag)}

    upstream_run = rest.trigger_dag_run("UpstreamFlow", conf={"number": 21})
    assert rest.wait_for_dag_run("UpstreamFlow", upstream_run, timeout=300).state == "success"

    downstream = _started_run(rest, "DownstreamFlow", before)
    native = _started_run(rest, "native_after_upstream", before)
    assert downstream.state == "success" and native.state == "success"
    upstream_pathspec = f"UpstreamFlow/{metaflow_run_id('UpstreamFlow', upstream_run)}"
    assert (
        _artifact("DownstreamFlow", "DownstreamFlow", downstream.run_id, "start", "upstream")
        == upstream_pathspec
    )
    assert _artifact("DownstreamFlow", "DownstreamFlow", downstream.run_id, "start", "upstream_doubled") == 42
    assert services.native_out.read_text() == upstream_pathspec  # type: ignore[attr-defined]


def test_a_sensor_waits_for_an_upstream_flow_deployed_elsewhere(
    services: AirflowServices, tmp_path: Path
) -> None:
    rest = services.rest
    run_id = rest.trigger_dag_run("DownstreamWaits")
    rest.wait_for_task_instance("DownstreamWaits", run_id, "wait_for_UpstreamFlow", {"up_for_reschedule"})
    flow_file = tmp_path / "upstream_flow.py"
    shutil.copy(FLOWS / "upstream_flow.py", flow_file)
    run_id_file = tmp_path / "run_id"

    subprocess.run(  # noqa: S603 - the upstream flow runs outside Airflow, as by hand
        [
            sys.executable,
            str(flow_file),
            "--quiet",
            "run",
            "--number",
            "5",
            "--run-id-file",
            str(run_id_file),
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )

    assert rest.wait_for_dag_run("DownstreamWaits", run_id, timeout=300).state == "success"
    upstream_pathspec = f"UpstreamFlow/{run_id_file.read_text().strip()}"
    assert _artifact("DownstreamWaits", "DownstreamFlow", run_id, "start", "upstream") == upstream_pathspec
    assert _artifact("DownstreamWaits", "DownstreamFlow", run_id, "start", "upstream_doubled") == 10


def test_a_named_event_starts_its_flow_with_the_payload_as_parameters(services: AirflowServices) -> None:
    rest = services.rest
    before = {run.run_id for run in rest.dag_runs("EventFlow")}

    rest.create_asset_event("metaflow-event://table_ready", {"row_count": 12, "table_name": "orders"})

    run = _started_run(rest, "EventFlow", before)
    assert run.state == "success"
    assert _artifact("EventFlow", "EventFlow", run.run_id, "start", "summary") == "orders: 12 rows"
