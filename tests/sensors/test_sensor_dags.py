"""MetaflowFlowSensor inside DAG runs (`dag.test()`, which also runs triggers inline)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sensor_helpers import GatedRuns, unique_tag

from airflow_provider_metaflow.testing import TestEnvironment
from airflow_provider_metaflow.version_compat import get_dagbag_class

pytestmark = pytest.mark.e2e

AUTH_KEY = "fake-auth-key-in-dag-2b7e41"
AWS_SECRET = "fake-aws-secret-in-dag-9c03d5"

SENSOR_DAG = """
import datetime
from pathlib import Path

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from airflow_provider_metaflow import MetaflowFlowSensor


def record(returned, keyed):
    Path({record_file!r}).write_text(f"{{returned}} {{keyed}}")


with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime.datetime(2025, 1, 1)) as dag:
    wait = MetaflowFlowSensor(
        task_id="wait", flow_name="GatedFlow", tags=[{tag!r}], poke_interval=1, timeout=300, {options}
    )
    keep = PythonOperator(
        task_id="keep",
        python_callable=record,
        op_args=[wait.output, "{{{{ ti.xcom_pull(task_ids='wait', key='pathspec') }}}}"],
    )
    wait >> keep
"""


def run_sensor_dag(dag_path: Path, record_file: Path, tag: str, options: str) -> str:
    dag_id = dag_path.stem
    dag_path.write_text(
        SENSOR_DAG.format(dag_id=dag_id, tag=tag, options=options, record_file=str(record_file))
    )
    bag = get_dagbag_class()(dag_folder=str(dag_path))
    assert not bag.import_errors
    return str(bag.get_dag(dag_id).test().state)


def db_count(sql: str, **params: Any) -> int:
    from airflow.utils.session import create_session
    from sqlalchemy import text

    with create_session() as session:
        return int(session.execute(text(sql), params).scalar() or 0)


@contextmanager
def open_gate_when(condition: Callable[[], bool], gated_run: GatedRuns) -> Iterator[None]:
    """Open the gate from another thread once Airflow shows the sensor waiting, so the run
    cannot finish before the sensor had to wait for it."""
    stop = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            if condition():
                gated_run.open_gate()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def test_deferred_sensor_resumes_when_the_run_finishes_and_keeps_secrets_out_of_logs(
    airflow_db: TestEnvironment,
    gated_run: GatedRuns,
    dag_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    connection = {
        "conn_type": "metaflow",
        "password": AUTH_KEY,
        "extra": {
            "datastore": "local",
            "datastore_root": str(airflow_db.metaflow_root),
            "metadata": "local",
            "aws_secret_access_key": AWS_SECRET,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_METAFLOW_DAG_SECRET", json.dumps(connection))
    tag = unique_tag("deferred")
    pathspec = gated_run.start(tag).pathspec()
    triggers_before = db_count("SELECT count(*) FROM trigger WHERE classpath LIKE '%MetaflowFlowTrigger'")

    def deferred() -> bool:
        count = db_count("SELECT count(*) FROM trigger WHERE classpath LIKE '%MetaflowFlowTrigger'")
        return count > triggers_before

    record_file = tmp_path / "xcom"
    options = 'deferrable=True, metaflow_conn_id="metaflow_dag_secret"'
    with open_gate_when(deferred, gated_run):
        state = run_sensor_dag(dag_path, record_file, tag, options)

    assert state == "success"
    assert deferred()
    assert record_file.read_text() == f"{pathspec} {pathspec}"
    logs = capfd.readouterr()
    output = logs.out + logs.err
    assert "Waiting: No successful run of GatedFlow" in output  # the sensor's own log is here
    assert AUTH_KEY not in output
    assert AWS_SECRET not in output
    assert AUTH_KEY not in dag_path.read_text()


def test_rescheduled_sensor_finds_the_run_on_a_later_try(
    airflow_db: TestEnvironment, gated_run: GatedRuns, dag_path: Path, tmp_path: Path
) -> None:
    tag = unique_tag("reschedule")
    pathspec = gated_run.start(tag).pathspec()
    dag_id = dag_path.stem

    def rescheduled() -> bool:
        return (
            db_count(
                "SELECT count(*) FROM task_reschedule r JOIN task_instance t ON r.ti_id = t.id "
                "WHERE t.dag_id = :dag_id AND t.task_id = 'wait'",
                dag_id=dag_id,
            )
            > 0
        )

    record_file = tmp_path / "xcom"
    with open_gate_when(rescheduled, gated_run):
        state = run_sensor_dag(dag_path, record_file, tag, 'mode="reschedule"')

    assert state == "success"
    assert rescheduled()
    assert record_file.read_text() == f"{pathspec} {pathspec}"
