"""Real Airflow services (LocalExecutor, SQLite) driven over the REST API, as a user drives them.

One set of services serves the whole module (the `airflow_services` session fixture); the DAGs
below are written into its dags folder and registered once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from task_timing import seconds_run_together

from airflow_provider_metaflow.testing.rest import AirflowRestClient
from airflow_provider_metaflow.testing.services import AirflowServices

pytestmark = pytest.mark.services

NAP = 4.0  # seconds each mapped task of svc_parallel sleeps

DAGS = """
import os
import time
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def write_conf(**context):
    conf = context["dag_run"].conf
    Path(conf["out"]).write_text(f"{conf['message']}\\n{os.environ['AIRFLOW_HOME']}")
    return conf["message"]


def nap(index, **context):
    time.sleep(context["dag_run"].conf["nap"])


def fail():
    raise ValueError("the failing task gives up: code 7d3f")


def count_run(**context):
    with open(context["dag_run"].conf["out"], "a") as handle:
        handle.write("ran\\n")


with DAG("svc_conf", schedule=None):
    PythonOperator(task_id="write_conf", python_callable=write_conf)

with DAG("svc_parallel", schedule=None):
    PythonOperator.partial(task_id="nap", python_callable=nap).expand(op_args=[[0], [1], [2], [3]])

with DAG("svc_failing", schedule=None):
    PythonOperator(task_id="fail", python_callable=fail, retries=0)

with DAG("svc_clear", schedule=None):
    PythonOperator(task_id="count", python_callable=count_run) >> BashOperator(
        task_id="after", bash_command="echo after"
    )

with DAG("svc_sleep", schedule=None):
    BashOperator(task_id="sleep", bash_command="sleep 600")
"""
DAG_IDS = ("svc_conf", "svc_parallel", "svc_failing", "svc_clear", "svc_sleep")


@pytest.fixture(scope="module")
def rest(airflow_services: AirflowServices) -> AirflowRestClient:
    (airflow_services.config.dags_folder / "services_test_dags.py").write_text(DAGS)
    airflow_services.register_dags(*DAG_IDS)
    return airflow_services.rest


def test_run_triggered_over_rest_hands_its_conf_to_the_task(
    rest: AirflowRestClient, airflow_services: AirflowServices, tmp_path: Path
) -> None:
    out = tmp_path / "conf.txt"
    run_id = rest.trigger_dag_run("svc_conf", conf={"message": "hello from REST", "out": str(out)})

    assert rest.wait_for_dag_run("svc_conf", run_id, timeout=120).state == "success"
    message, task_home = out.read_text().split("\n")
    assert message == "hello from REST"
    assert rest.xcom_value("svc_conf", run_id, "write_conf") == "hello from REST"
    # The services have their own home, whatever this pytest process uses for dag.test().
    assert Path(task_home) == airflow_services.config.airflow_home
    assert os.environ.get("AIRFLOW_HOME") != task_home


def test_mapped_tasks_run_in_parallel(rest: AirflowRestClient) -> None:
    run_id = rest.trigger_dag_run("svc_parallel", conf={"nap": NAP})

    assert rest.wait_for_dag_run("svc_parallel", run_id, timeout=180).state == "success"
    tasks = rest.task_instances("svc_parallel", run_id)
    assert [(ti.task_id, ti.map_index, ti.state) for ti in tasks] == [
        ("nap", index, "success") for index in range(4)
    ]
    assert len({ti.pid for ti in tasks}) == 4
    assert all(ti.start_date and ti.end_date for ti in tasks)
    # Two or more ran at once for half a nap or longer. One after another (even back to back), no
    # two would overlap at all; how many overlapped, and when each started, depends on the load.
    together = seconds_run_together(tasks)
    assert together >= NAP / 2, f"the tasks ran one after another: {together:.1f} s with two at once"


def test_failing_task_log_over_rest_shows_its_exception(rest: AirflowRestClient) -> None:
    run_id = rest.trigger_dag_run("svc_failing")

    assert rest.wait_for_dag_run("svc_failing", run_id, timeout=120).state == "failed"
    (task,) = rest.task_instances("svc_failing", run_id)
    assert (task.state, task.try_number) == ("failed", 1)
    log = rest.task_log("svc_failing", run_id, "fail", try_number=1)
    assert "ValueError" in log
    assert "the failing task gives up: code 7d3f" in log


def test_cleared_task_reruns_with_the_next_try_number(rest: AirflowRestClient, tmp_path: Path) -> None:
    out = tmp_path / "runs.txt"
    run_id = rest.trigger_dag_run("svc_clear", conf={"out": str(out)})
    assert rest.wait_for_dag_run("svc_clear", run_id, timeout=120).state == "success"

    cleared = rest.clear_task_instances("svc_clear", run_id, ["count"], include_downstream=True)

    assert sorted(ti.task_id for ti in cleared) == ["after", "count"]
    assert rest.wait_for_dag_run("svc_clear", run_id, timeout=120).state == "success"
    tries = {ti.task_id: (ti.state, ti.try_number) for ti in rest.task_instances("svc_clear", run_id)}
    assert tries == {"count": ("success", 2), "after": ("success", 2)}
    assert out.read_text() == "ran\nran\n"
    assert "after" in rest.task_log("svc_clear", run_id, "after", try_number=2)


def test_marking_a_running_task_failed_stops_it(rest: AirflowRestClient) -> None:
    run_id = rest.trigger_dag_run("svc_sleep")
    running = rest.wait_for_task_instance("svc_sleep", run_id, "sleep", {"running"}, timeout=120)
    assert running.pid is not None

    rest.mark_failed("svc_sleep", run_id, "sleep")

    assert rest.wait_for_dag_run("svc_sleep", run_id, timeout=60).state == "failed"
    (task,) = rest.task_instances("svc_sleep", run_id)
    assert task.state == "failed"
    assert rest.xcom_entries("svc_sleep", run_id, "sleep") == []
