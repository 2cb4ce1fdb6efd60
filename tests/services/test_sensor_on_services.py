"""MetaflowFlowSensor under real Airflow services: deferred to the triggerer while it waits, and
reading runs through a `metaflow` connection created over the REST API, secrets kept out of logs.
The example DAG of docs/sensors.md is checked here too."""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from flow_process import FlowProcess

from airflow_provider_metaflow import MetaflowFlowSensor
from airflow_provider_metaflow.testing import TestEnvironment
from airflow_provider_metaflow.testing.rest import AirflowRestClient
from airflow_provider_metaflow.testing.services import AirflowServices
from airflow_provider_metaflow.version_compat import get_dagbag_class

pytestmark = pytest.mark.services

SENSOR_FLOWS = Path(__file__).resolve().parent.parent / "sensors" / "flows"
DOC = Path(__file__).resolve().parents[2] / "docs" / "sensors.md"
DOC_EXAMPLE = re.compile(r"<!-- sensor-example -->\n```python\n(?P<code>.*?)```", re.S)
DEFERRED_DAG_ID = "sensor_deferred_on_services"
SLOTS_DAG_ID = "every_worker_slot_at_once"
CONNECTION_DAG_ID = "sensor_with_rest_connection"
CONN_ID = "metaflow_from_rest"
# What a user would never want in a task log: the connection's password and a secret variable.
FAKE_AUTH_KEY = "fake-auth-key-5d21e9-never-in-a-log"
FAKE_SECRET = "fake-secret-env-83b0c4-never-in-a-log"

# The sensor waits in the triggerer; a downstream task reads the run's pathspec from XCom.
DEFERRED_DAG = f"""
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

from airflow_provider_metaflow import MetaflowFlowSensor

with DAG(dag_id={DEFERRED_DAG_ID!r}, schedule=None, params={{"tag": ""}}) as dag:
    wait = MetaflowFlowSensor(
        task_id="wait", flow_name="GatedFlow", tags=["{{{{ params.tag }}}}"],
        deferrable=True, poke_interval=1, timeout=240,
    )
    use = BashOperator(
        task_id="use", bash_command='echo "using run $PATHSPEC"', append_env=True,
        env={{"PATHSPEC": "{{{{ ti.xcom_pull(task_ids='wait', key='pathspec') }}}}"}},
    )
    wait >> use
"""

# As many tasks as the executor has slots, each waiting until all of them run at the same
# moment: it succeeds only while no other task holds a slot.
SLOTS_DAG = """
import os
import time

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

WIDTH = {width}


def meet(folder, name):
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, name), "w").close()
    deadline = time.monotonic() + 60
    while len(os.listdir(folder)) < WIDTH:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {{len(os.listdir(folder))}} of {{WIDTH}} tasks ran at once")
        time.sleep(0.2)


with DAG(dag_id={dag_id!r}, schedule=None, params={{"folder": ""}}) as dag:
    for index in range(WIDTH):
        PythonOperator(
            task_id=f"slot_{{index}}", python_callable=meet,
            op_args=["{{{{ params.folder }}}}", f"slot_{{index}}"],
        )
"""

# Two sensors read runs through the connection, one from the worker and one from the triggerer;
# the last task prints the connection's secrets the way careless user code might, and Airflow must
# mask them.
CONNECTION_DAG = f"""
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from airflow_provider_metaflow import MetaflowFlowSensor, MetaflowHook


def print_secrets():
    environment = MetaflowHook({CONN_ID!r}).metaflow_environment()
    print("auth key:", environment["METAFLOW_SERVICE_AUTH_KEY"])
    print("secret variable:", environment["SENSOR_TEST_SECRET"])


with DAG(dag_id={CONNECTION_DAG_ID!r}, schedule=None, params={{"pathspec": "", "tag": ""}}) as dag:
    wait = MetaflowFlowSensor(
        task_id="wait", flow_name="SensedFlow", run_id="{{{{ params.pathspec }}}}",
        metaflow_conn_id={CONN_ID!r}, mode="poke", deferrable=False, poke_interval=1, timeout=60,
    )
    wait_in_triggerer = MetaflowFlowSensor(
        task_id="wait_in_triggerer", flow_name="GatedFlow", tags=["{{{{ params.tag }}}}"],
        metaflow_conn_id={CONN_ID!r}, deferrable=True, poke_interval=5, timeout=120,
    )
    [wait, wait_in_triggerer] >> PythonOperator(task_id="print_secrets", python_callable=print_secrets)
"""


@dataclass(frozen=True)
class SensorDeployment:
    services: AirflowServices
    gated_flow: Path
    other_root: Path  # a Metaflow datastore root that only the REST connection points to
    other_root_run: str  # the pathspec of a SensedFlow run in it (GatedFlow has run there too)

    @property
    def rest(self) -> AirflowRestClient:
        return self.services.rest


@pytest.fixture(scope="module")
def deployment(
    airflow_services: AirflowServices, test_env: TestEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SensorDeployment]:
    """The session's services with this module's DAGs registered, GatedFlow known to Metaflow in
    the tests' datastore (the sensor fails at once for a flow that never ran), and a datastore
    root of its own where SensedFlow and GatedFlow have run."""
    gated_flow = test_env.flows_folder / "gated_flow.py"
    shutil.copy(SENSOR_FLOWS / "gated_flow.py", gated_flow)
    open_gate = tmp_path_factory.mktemp("open-gate") / "gate"
    open_gate.touch()
    other_root = tmp_path_factory.mktemp("other-metaflow-root")
    for name in ("sensed_flow.py", "gated_flow.py"):
        shutil.copy(SENSOR_FLOWS / name, other_root / name)
    in_other_root = {"METAFLOW_DATASTORE_SYSROOT_LOCAL": str(other_root)}
    started = [
        FlowProcess(other_root / "sensed_flow.py", env=in_other_root),
        FlowProcess(gated_flow, "--tag", "known-flow", "--gate", str(open_gate)),
        FlowProcess(other_root / "gated_flow.py", "--gate", str(open_gate), env=in_other_root),
    ]
    try:
        dags = airflow_services.config.dags_folder
        (dags / f"{DEFERRED_DAG_ID}.py").write_text(DEFERRED_DAG)
        width = airflow_services.config.parallelism
        (dags / f"{SLOTS_DAG_ID}.py").write_text(SLOTS_DAG.format(width=width, dag_id=SLOTS_DAG_ID))
        (dags / f"{CONNECTION_DAG_ID}.py").write_text(CONNECTION_DAG)
        airflow_services.register_dags(DEFERRED_DAG_ID, SLOTS_DAG_ID, CONNECTION_DAG_ID)
        other_root_run, *_ = [run.finish() for run in started]
        yield SensorDeployment(airflow_services, gated_flow, other_root, other_root_run)
    finally:
        for run in started:
            run.stop()


@pytest.fixture
def background_runs() -> Iterator[list[FlowProcess]]:
    """Runs a test starts; stopped when the test ends, whatever its outcome."""
    started: list[FlowProcess] = []
    try:
        yield started
    finally:
        for run in started:
            run.stop()


def _wait_for_ti_state(rest: AirflowRestClient, dag_id: str, run_id: str, task_id: str, state: str) -> None:
    """Wait until the task instance reaches `state`; fail at once if it ends elsewhere."""
    deadline = time.monotonic() + 120
    while True:
        ti = rest.task_instance(dag_id, run_id, task_id)
        if ti.state == state:
            return
        if ti.state in ("success", "failed", "skipped", "upstream_failed") or time.monotonic() > deadline:
            logs = _shown(_logs(rest, dag_id, run_id))
            raise AssertionError(f"{dag_id}.{task_id} is {ti.state!r}, never {state!r}:\n{logs}")
        time.sleep(0.3)


def _wait_for_log_line(rest: AirflowRestClient, dag_id: str, run_id: str, task_id: str, line: str) -> None:
    """Wait until the first try's log (the trigger's part included) holds `line`."""
    deadline = time.monotonic() + 60
    while line not in (log := rest.task_log(dag_id, run_id, task_id, try_number=1)):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {line!r} in the log of {dag_id}.{task_id}:\n{log[-4000:]}")
        time.sleep(0.5)


def _logs(rest: AirflowRestClient, dag_id: str, run_id: str) -> dict[str, str]:
    """Every try's log of every task of the run, by task id."""
    tries = [
        (ti.task_id, number)
        for ti in rest.task_instances(dag_id, run_id)
        for number in range(1, ti.try_number + 1)
    ]
    logs: dict[str, str] = {}
    for task_id, number in tries:
        logs[task_id] = logs.get(task_id, "") + rest.task_log(dag_id, run_id, task_id, number)
    return logs


def _shown(logs: dict[str, str]) -> str:
    """Logs for an assertion message: the end of each task's log."""
    return "\n".join(f"--- {task_id} ---\n{text[-3000:]}" for task_id, text in sorted(logs.items()))


def test_deferred_sensor_frees_its_worker_slot_and_resumes_with_the_pathspec(
    deployment: SensorDeployment, background_runs: list[FlowProcess], tmp_path: Path
) -> None:
    rest = deployment.rest
    tag = f"deferred-{uuid.uuid4().hex[:8]}"
    run_id = rest.trigger_dag_run(DEFERRED_DAG_ID, conf={"tag": tag})
    _wait_for_ti_state(rest, DEFERRED_DAG_ID, run_id, "wait", "deferred")

    gated = FlowProcess(deployment.gated_flow, "--tag", tag, "--gate", str(tmp_path / "gate"))
    background_runs.append(gated)
    pathspec = gated.pathspec()
    slots_run = rest.trigger_dag_run(SLOTS_DAG_ID, conf={"folder": str(tmp_path / "slots")})
    slots_state = rest.wait_for_dag_run(SLOTS_DAG_ID, slots_run, timeout=150).state
    assert slots_state == "success", _shown(_logs(rest, SLOTS_DAG_ID, slots_run))
    still = rest.task_instance(DEFERRED_DAG_ID, run_id, "wait").state
    assert still == "deferred", "the sensor stopped waiting before its run finished"

    (tmp_path / "gate").touch()
    gated.finish()
    final = rest.wait_for_dag_run(DEFERRED_DAG_ID, run_id, timeout=120).state

    logs = _logs(rest, DEFERRED_DAG_ID, run_id)
    assert final == "success", _shown(logs)
    assert rest.xcom_value(DEFERRED_DAG_ID, run_id, "wait", key="pathspec") == pathspec
    assert rest.xcom_value(DEFERRED_DAG_ID, run_id, "wait") == pathspec
    assert f"using run {pathspec}" in logs["use"]
    # The triggerer writes a log file of its own for the deferred try, served with the task log;
    # only the trigger logs "Waiting for a run of ...": the sensor itself writes "Waiting: ...".
    assert "/attempt=1.log.trigger." in logs["wait"], logs["wait"]
    waiting = f"Waiting for a run of GatedFlow: No successful run of GatedFlow with tags ['{tag}']"
    assert waiting in logs["wait"]
    assert "Trigger fired event" in logs["wait"]


def _create_connection(base_url: str, metaflow_root: Path) -> None:
    extra = {
        "datastore": "local",
        "datastore_root": str(metaflow_root),
        "metadata": "local",
        "secret_environment": json.dumps({"SENSOR_TEST_SECRET": FAKE_SECRET}),
    }
    body = {
        "connection_id": CONN_ID,
        "conn_type": "metaflow",
        "password": FAKE_AUTH_KEY,
        "extra": json.dumps(extra),
    }
    response = httpx.post(f"{base_url}/api/v2/connections", json=body, timeout=30)
    assert response.status_code == 201, response.text


@pytest.fixture
def rest_connection(deployment: SensorDeployment) -> Iterator[str]:
    """A `metaflow` connection made over the REST API, pointing at the other datastore root."""
    base_url = deployment.services.base_url
    _create_connection(base_url, deployment.other_root)
    try:
        yield CONN_ID
    finally:
        httpx.delete(f"{base_url}/api/v2/connections/{CONN_ID}", timeout=30)


def test_sensors_read_runs_through_a_connection_made_over_rest_and_no_log_shows_its_secrets(
    deployment: SensorDeployment,
    rest_connection: str,
    background_runs: list[FlowProcess],
    tmp_path: Path,
) -> None:
    rest = deployment.rest
    pathspec = deployment.other_root_run
    tag = f"connection-{uuid.uuid4().hex[:8]}"

    run_id = rest.trigger_dag_run(CONNECTION_DAG_ID, conf={"pathspec": pathspec, "tag": tag})
    _wait_for_ti_state(rest, CONNECTION_DAG_ID, run_id, "wait_in_triggerer", "deferred")
    gated = FlowProcess(
        deployment.other_root / "gated_flow.py",
        *("--tag", tag, "--gate", str(tmp_path / "gate")),
        env={"METAFLOW_DATASTORE_SYSROOT_LOCAL": str(deployment.other_root)},
    )
    background_runs.append(gated)
    gated_pathspec = gated.pathspec()
    _wait_for_log_line(rest, CONNECTION_DAG_ID, run_id, "wait_in_triggerer", "Waiting for a run of GatedFlow")
    (tmp_path / "gate").touch()
    gated.finish()
    final = rest.wait_for_dag_run(CONNECTION_DAG_ID, run_id, timeout=120).state

    logs = _logs(rest, CONNECTION_DAG_ID, run_id)
    assert final == "success", _shown(logs)
    assert rest.xcom_value(CONNECTION_DAG_ID, run_id, "wait") == pathspec
    assert f"Run {pathspec} succeeded" in logs["wait"]
    assert rest.xcom_value(CONNECTION_DAG_ID, run_id, "wait_in_triggerer") == gated_pathspec
    assert "auth key: ***" in logs["print_secrets"]
    assert "secret variable: ***" in logs["print_secrets"]
    for task_id, text in logs.items():
        assert FAKE_AUTH_KEY not in text, f"the connection's password is in the log of {task_id}"
        assert FAKE_SECRET not in text, f"a secret_environment value is in the log of {task_id}"
    # The api-server took the secrets in; the scheduler's output is left out on purpose: with the
    # LocalExecutor it also echoes what task code prints, which Airflow masks only in task logs.
    for component in set(deployment.services.config.components) - {"scheduler"}:
        text = deployment.services.log_path(component).read_text(errors="replace")
        assert FAKE_AUTH_KEY not in text and FAKE_SECRET not in text, f"a secret is in the {component} log"


def test_the_documented_example_dag_loads_with_a_deferred_sensor_feeding_a_bash_task(tmp_path: Path) -> None:
    match = DOC_EXAMPLE.search(DOC.read_text())
    assert match, f"no example DAG under <!-- sensor-example --> in {DOC}"
    dag_file = tmp_path / "report_after_training.py"
    dag_file.write_text(match["code"])

    bag = get_dagbag_class()(dag_folder=str(dag_file))

    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["report_after_training"]
    sensor, report = dag.get_task("wait_for_training"), dag.get_task("report")
    assert isinstance(sensor, MetaflowFlowSensor) and sensor.deferrable
    assert report.upstream_task_ids == {"wait_for_training"}
    assert "key='pathspec'" in report.env["TRAINING_RUN"]
