"""Metaflow flows under real Airflow services (api-server, scheduler, dag-processor, triggerer,
LocalExecutor), triggered and inspected over the REST API, the way users run them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pod_cluster import METAFLOW_CONN_ID, PodCluster, canonical, run_artifacts
from process_helpers import is_alive, wait_dead
from task_timing import seconds_run_together

from airflow_provider_metaflow.runtime.ids import metaflow_run_id
from airflow_provider_metaflow.testing import create_dag, run_flow_locally, task_artifacts, task_counts
from airflow_provider_metaflow.testing.rest import AirflowRestClient
from airflow_provider_metaflow.testing.services import AirflowServices

pytestmark = pytest.mark.services

FLOWS = Path(__file__).resolve().parent.parent / "flows"
EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
EXAMPLE_FLOW = EXAMPLES / "flows" / "movie_stats_flow.py"
GENERATED = {
    "LinearFlow": "linear_flow.py",
    "SlowExitHookFlow": "slow_exit_hook_flow.py",
    "ParallelForeachFlow": "parallel_foreach_flow.py",
    "FailingFlow": "failing_flow.py",
    "MovieStatsFlow": EXAMPLE_FLOW,
}

# Hand-written: the step gets a pid file through `env`, so the test can find its processes.
SLEEPY_DAG = """
from airflow.sdk import DAG
from airflow_provider_metaflow import MetaflowFlow, MetaflowStepOperator

flow = MetaflowFlow("SleepyFlow", file="flows/sleepy_flow.py", parameters=[])

with DAG(dag_id="sleepy_on_services", schedule=None, params={"pid_file": ""}) as dag:
    start = MetaflowStepOperator(task_id="start", flow=flow, step="start")
    sleep = MetaflowStepOperator(
        task_id="sleep", flow=flow, step="sleep", inputs=["start"],
        env={"SLEEPY_PID_FILE": "{{ params.pid_file }}"},
    )
    end = MetaflowStepOperator(task_id="end", flow=flow, step="end", inputs=["sleep"])
    start >> sleep >> end
"""

# Hand-written, with a success callback that runs in each task process after its step and
# records which Metaflow modules that process imported.
MODULES_DAG = """
import json, os, sys
from airflow.sdk import DAG
from airflow_provider_metaflow import MetaflowFlow, MetaflowForeachOperator, MetaflowStepOperator

REPORTS = {reports!r}


def report(context):
    ti = context["ti"]
    loaded = sorted(m for m in sys.modules if m == "metaflow" or m.startswith("metaflow."))
    with open(os.path.join(REPORTS, f"{{ti.task_id}}-{{ti.map_index}}.json"), "w") as handle:
        json.dump(loaded, handle)


flow = MetaflowFlow("SwitchIntoForeachJoinFlow", file="flows/switch_into_foreach_join_flow.py", parameters=[])
branch = dict(flow=flow, foreach="start", conditional=True, trigger_rule="none_failed")

with DAG(dag_id="no_metaflow_in_task", schedule=None, default_args={{"on_success_callback": report}}) as dag:
    start = MetaflowForeachOperator(task_id="start", flow=flow, step="start")
    decide = MetaflowStepOperator.partial(
        task_id="decide", flow=flow, step="decide", inputs=["start"], foreach="start"
    ).expand(split_index=start.output)
    even = MetaflowStepOperator.partial(
        task_id="handle_even", step="handle_even", inputs=["decide"], **branch
    ).expand(split_index=start.output)
    odd = MetaflowStepOperator.partial(
        task_id="handle_odd", step="handle_odd", inputs=["decide"], **branch
    ).expand(split_index=start.output)
    join = MetaflowStepOperator(
        task_id="join", flow=flow, step="join", inputs=["handle_even", "handle_odd"], join_of="start",
        conditional=True, trigger_rule="none_failed",
    )
    end = MetaflowStepOperator(
        task_id="end", flow=flow, step="end", inputs=["join"], conditional=True, trigger_rule="none_failed"
    )
    start >> decide >> [even, odd] >> join >> end
"""


@pytest.fixture(scope="module")
def services(
    airflow_services: AirflowServices, tmp_path_factory: pytest.TempPathFactory, pod_cluster: PodCluster
) -> AirflowServices:
    """The session's services with this module's flows and DAGs deployed and registered."""
    dags = airflow_services.config.dags_folder
    flows = dags / "flows"
    flows.mkdir(parents=True, exist_ok=True)
    for name in ("sleepy_flow.py", "switch_into_foreach_join_flow.py", "linear_flow.py"):
        shutil.copy(FLOWS / name, flows / name)
    for source in GENERATED.values():
        flow_file = flows / Path(source).name
        shutil.copy(source if isinstance(source, Path) else FLOWS / source, flow_file)
        create_dag(flow_file, dags / f"{Path(source).stem}_dag.py")
    shutil.copy(FLOWS / "pod_foreach_flow.py", flows / "pod_foreach_flow.py")
    create_dag(
        flows / "pod_foreach_flow.py",
        dags / "pod_foreach_sync_dag.py",
        "--metaflow-conn-id",
        METAFLOW_CONN_ID,
        name="PodForeachSync",
        top_level=["--with", "kubernetes"],
        env=pod_cluster.metaflow_env,
    )
    create_dag(
        flows / "pod_foreach_flow.py",
        dags / "pod_foreach_deferred_dag.py",
        "--deferrable",
        "--metaflow-conn-id",
        METAFLOW_CONN_ID,
        name="PodForeachDeferred",
        top_level=["--with", "kubernetes"],
        env=pod_cluster.metaflow_env,
    )
    # The hand-written example with a flow as a TaskGroup, the module it imports, and its flow.
    shutil.copy(EXAMPLES / "mixed_pipeline_dag.py", dags / "mixed_pipeline_dag.py")
    shutil.copy(EXAMPLES / "score_group.py", dags / "score_group.py")
    shutil.copy(EXAMPLES / "flows" / "score_flow.py", flows / "score_flow.py")
    (dags / "sleepy_on_services_dag.py").write_text(SLEEPY_DAG)
    reports = tmp_path_factory.mktemp("module-reports")
    (dags / "no_metaflow_in_task_dag.py").write_text(MODULES_DAG.format(reports=str(reports)))
    airflow_services.register_dags(
        *GENERATED, "sleepy_on_services", "no_metaflow_in_task", "PodForeachDeferred", "mixed_pipeline"
    )
    airflow_services.reports = reports  # type: ignore[attr-defined]
    return airflow_services


@pytest.fixture
def rest(services: AirflowServices) -> AirflowRestClient:
    return services.rest


def _metaflow_run(flow_name: str, airflow_run_id: str, dag_id: str | None = None) -> Any:
    from metaflow import Run

    return Run(f"{flow_name}/{metaflow_run_id(dag_id or flow_name, airflow_run_id)}", _namespace_check=False)


def _finish(rest: AirflowRestClient, dag_id: str, conf: dict[str, Any] | None = None) -> str:
    run_id = rest.trigger_dag_run(dag_id, conf=conf)
    state = rest.wait_for_dag_run(dag_id, run_id, timeout=600).state
    assert state == "success", (
        f"{dag_id} run {run_id} ended {state}\n{_failed_task_logs(rest, dag_id, run_id)}"
    )
    return run_id


def _failed_task_logs(rest: AirflowRestClient, dag_id: str, run_id: str) -> str:
    """The logs of a run's failed tasks, for the message of a failing assertion."""
    return "\n".join(
        f"--- {ti.task_id}[{ti.map_index}] try {ti.try_number} ---\n"
        + rest.task_log(dag_id, run_id, ti.task_id, ti.try_number, ti.map_index)[-4000:]
        for ti in rest.task_instances(dag_id, run_id)
        if ti.state == "failed"
    )


@pytest.mark.slow  # make test: the local Airflow runs the same example with conf (test_local_airflow.py)
def test_example_flow_triggered_over_rest_with_conf_matches_the_local_run(
    rest: AirflowRestClient, tmp_path: Path
) -> None:
    conf = {"genre": "drama", "min_votes": 1500, "include_classics": False}

    run_id = _finish(rest, "MovieStatsFlow", conf)

    run = _metaflow_run("MovieStatsFlow", run_id)
    local_copy = tmp_path / EXAMPLE_FLOW.name
    shutil.copy(EXAMPLE_FLOW, local_copy)
    local_run = run_flow_locally(local_copy, conf)
    assert run.successful
    assert task_counts(run) == task_counts(local_run)
    assert task_artifacts(run) == task_artifacts(local_run)


def test_a_flow_as_a_task_group_takes_xcom_parameters_and_hands_its_artifact_to_a_native_task(
    rest: AirflowRestClient, tmp_path: Path
) -> None:
    run_id = _finish(rest, "mixed_pipeline", {"rows": 6, "threshold": 0.6})

    from metaflow import Run

    run = Run(f"ScoreFlow/{metaflow_run_id('mixed_pipeline', run_id, 'score')}", _namespace_check=False)
    input_csv = rest.xcom_value("mixed_pipeline", run_id, "prepare_input")
    assert run["start"].task["input_csv"].data == input_csv, "the shell task's XCom became the Parameter"
    # The same readings (the shell task's formula), run with Metaflow's own runtime.
    readings = tmp_path / "readings.csv"
    readings.write_text("id,value\n" + "".join(f"{i},{(i * 37) % 101}\n" for i in range(1, 7)))
    shutil.copy(EXAMPLES / "flows" / "score_flow.py", tmp_path / "score_flow.py")
    local = run_flow_locally(tmp_path / "score_flow.py", {"threshold": 0.6, "input_csv": str(readings)})
    paths = {"input_csv", "source"}  # the file's path differs; its content does not

    def without_paths(artifacts: dict[str, Any]) -> dict[str, Any]:
        return {
            step: {key: {k: v for k, v in values.items() if k not in paths} for key, values in tasks.items()}
            for step, tasks in artifacts.items()
        }

    assert run.successful
    assert task_counts(run) == task_counts(local)
    assert without_paths(task_artifacts(run)) == without_paths(task_artifacts(local))
    summary = run["end"].task["summary"].data
    assert rest.xcom_value("mixed_pipeline", run_id, "score.end", key="summary") == summary
    assert rest.xcom_value("mixed_pipeline", run_id, "report") == summary


def test_mapped_foreach_tasks_really_run_in_parallel(rest: AirflowRestClient) -> None:
    nap = 8.0
    run_id = _finish(rest, "ParallelForeachFlow", {"width": 4, "nap": nap})

    work = [ti for ti in rest.task_instances("ParallelForeachFlow", run_id, task_id="work")]
    assert len(work) == 4 and {ti.state for ti in work} == {"success"}
    # Two or more splits ran at once for half a nap or longer; one after another, none would
    # overlap at all. How many overlapped, and when each started, depends on the load.
    together = seconds_run_together(work)
    assert together >= nap / 2, f"the splits ran one after another: {together:.1f} s with two at once"
    assert _metaflow_run("ParallelForeachFlow", run_id)["join"].task["squares"].data == [0, 1, 4, 9]


def test_two_concurrent_dag_runs_make_two_distinct_correct_metaflow_runs(rest: AirflowRestClient) -> None:
    first = rest.trigger_dag_run("LinearFlow", conf={"alpha": 1.0, "label": "first"})
    second = rest.trigger_dag_run("LinearFlow", conf={"alpha": 3.0, "label": "second"})
    for run_id in (first, second):
        assert rest.wait_for_dag_run("LinearFlow", run_id, timeout=600).state == "success"

    runs = [_metaflow_run("LinearFlow", run_id) for run_id in (first, second)]
    assert runs[0].id != runs[1].id
    summaries = [run["end"].task["summary"].data for run in runs]
    assert summaries == [
        {"total": 3.0, "label": "first", "loud": False},
        {"total": 9.0, "label": "second", "loud": False},
    ]


def test_clearing_a_finished_task_reruns_it_in_the_same_metaflow_run_as_the_next_attempt(
    rest: AirflowRestClient,
) -> None:
    run_id = _finish(rest, "LinearFlow", {"alpha": 2.0})
    before = _metaflow_run("LinearFlow", run_id)

    rest.clear_task_instances("LinearFlow", run_id, ["middle"], include_downstream=True)
    state = rest.wait_for_dag_run("LinearFlow", run_id, timeout=600).state

    assert state == "success"
    after = _metaflow_run("LinearFlow", run_id)
    assert after.id == before.id
    assert after["middle"].task.current_attempt == 1 and after["end"].task.current_attempt == 1
    assert after["start"].task.current_attempt == 0
    assert rest.task_instance("LinearFlow", run_id, "middle").try_number == 2


def _sleeping_step(rest: AirflowRestClient, tmp_path: Path) -> tuple[str, int, int]:
    """Start the sleepy DAG and wait until its step and the step's child are running."""
    pid_file = tmp_path / "pids"
    run_id = rest.trigger_dag_run("sleepy_on_services", conf={"pid_file": str(pid_file)})
    deadline = time.monotonic() + 300
    while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.2)
    step_pid, child_pid = (int(pid) for pid in pid_file.read_text().split())
    assert is_alive(step_pid) and is_alive(child_pid)
    return run_id, step_pid, child_pid


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def _assert_failure_recorded(run_id: str) -> None:
    """Metaflow knows the killed attempt ended, and that it failed."""
    task = _metaflow_run("SleepyFlow", run_id, "sleepy_on_services")["sleep"].task
    deadline = time.monotonic() + 30
    while task.finished_at is None and time.monotonic() < deadline:
        time.sleep(0.5)
        task = _metaflow_run("SleepyFlow", run_id, "sleepy_on_services")["sleep"].task
    assert task.finished_at is not None and not task.successful
    assert "terminated by Airflow" in str(task.exception)
    assert "The Airflow task was stopped" in task.stderr


def test_marking_a_running_step_failed_leaves_no_process_behind(
    rest: AirflowRestClient, tmp_path: Path
) -> None:
    run_id, step_pid, child_pid = _sleeping_step(rest, tmp_path)

    rest.mark_failed("sleepy_on_services", run_id, "sleep")

    assert wait_dead(step_pid, 30), "the Metaflow step outlived its task"
    assert wait_dead(child_pid, 30), "a process the step started outlived its task"
    assert rest.wait_for_dag_run("sleepy_on_services", run_id, timeout=120).state == "failed"
    _assert_failure_recorded(run_id)


def test_sigkill_of_the_task_process_leaves_no_process_behind(
    rest: AirflowRestClient, tmp_path: Path
) -> None:
    run_id, step_pid, child_pid = _sleeping_step(rest, tmp_path)
    guard = _parent(_parent(step_pid))  # the step's parent is the guard's keeper
    task_process = _parent(guard)

    os.kill(task_process, signal.SIGKILL)

    try:
        assert wait_dead(guard, 30) and wait_dead(step_pid, 30), "the step outlived its task process"
        assert wait_dead(child_pid, 30), "a process the step started outlived its task process"
    finally:
        for pid in (step_pid, child_pid):
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert rest.wait_for_dag_run("sleepy_on_services", run_id, timeout=300).state == "failed"
    _assert_failure_recorded(run_id)


def test_marking_a_running_exit_hook_failed_stops_its_process_through_on_kill(
    rest: AirflowRestClient, services: AirflowServices
) -> None:
    run_id = rest.trigger_dag_run("SlowExitHookFlow")
    pid_file = (
        services.config.dags_folder / "flows" / f"exit-hook-{metaflow_run_id('SlowExitHookFlow', run_id)}.pid"
    )
    deadline = time.monotonic() + 300
    while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.2)
    hook_pid = int(pid_file.read_text())

    rest.mark_failed("SlowExitHookFlow", run_id, "metaflow_exit_hook")

    assert wait_dead(hook_pid, 30), "the exit hook outlived its task"
    rest.wait_for_dag_run("SlowExitHookFlow", run_id, timeout=120)
    (hook,) = [
        ti for ti in rest.task_instances("SlowExitHookFlow", run_id) if ti.task_id == "metaflow_exit_hook"
    ]
    # Only on_kill stops the hook this way; without it the supervisor's SIGKILL ends the task.
    assert "Exit hook linger was stopped" in rest.task_log(
        "SlowExitHookFlow", run_id, hook.task_id, hook.try_number
    )


def test_a_failed_steps_traceback_is_in_the_task_log_over_rest(rest: AirflowRestClient) -> None:
    run_id = rest.trigger_dag_run("FailingFlow")
    assert rest.wait_for_dag_run("FailingFlow", run_id, timeout=600).state == "failed"

    log = rest.task_log("FailingFlow", run_id, "explode", try_number=1)

    assert "Traceback (most recent call last)" in log
    assert "ValueError: the explode step gives up on purpose: code 5c1e" in log


def test_no_metaflow_module_is_imported_in_the_airflow_task_process(services: AirflowServices) -> None:
    reports: Path = services.reports  # type: ignore[attr-defined]

    run_id = _finish(services.rest, "no_metaflow_in_task")

    found = {path.stem: json.loads(path.read_text()) for path in reports.glob("*.json")}
    # every task that ran: the foreach, three decisions, three branch tasks, the join and end
    assert len(found) == 9, sorted(found)
    assert all(loaded == [] for loaded in found.values()), found
    run = _metaflow_run("SwitchIntoForeachJoinFlow", run_id, "no_metaflow_in_task")
    assert run["join"].task["labels"].data == ["1 is odd", "2 is even", "3 is odd"]


@pytest.fixture(autouse=True)
def _no_leftover_pid_files(tmp_path: Path) -> Iterator[None]:
    yield
    for path in tmp_path.glob("pids"):
        path.unlink()


@pytest.mark.slow  # make test: pods under dag.test (tests/pods) and in deferrable mode under these services
def test_pod_steps_in_sync_mode_run_under_the_real_scheduler_and_match_the_local_run(
    rest: AirflowRestClient, pod_cluster: PodCluster, tmp_path: Path
) -> None:
    conf = {"scale": 5}
    run_id = _finish(rest, "PodForeachSync", conf)

    flow_file = tmp_path / "pod_foreach_flow.py"
    shutil.copy(FLOWS / "pod_foreach_flow.py", flow_file)
    remote = run_artifacts(
        f"PodForeachFlow/{metaflow_run_id('PodForeachSync', run_id)}", pod_cluster.metaflow_env
    )
    local_run = run_flow_locally(flow_file, conf)
    assert remote["task_counts"] == task_counts(local_run)
    assert remote["artifacts"] == canonical(task_artifacts(local_run))
    assert all(output.startswith("squaring") for output in remote["stdout"]["square"])


# Pod steps that nap 6 s each, deferred to the triggerer and resumed: about 110 s on two loaded cores.
@pytest.mark.timeout(600)
def test_pod_steps_in_deferrable_mode_wait_in_the_triggerer_and_match_the_local_run(
    rest: AirflowRestClient, pod_cluster: PodCluster, tmp_path: Path
) -> None:
    # Each step naps 6 s: Airflow 3.3 with SQLite can take 5 s to retire a deferring task's
    # process, and a trigger that fires before then makes the scheduler fail the resumed task.
    conf = {"scale": 3, "nap": 6.0}
    run_id = rest.trigger_dag_run("PodForeachDeferred", conf=conf)
    seen_states: set[str] = set()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        seen_states |= {str(ti.state) for ti in rest.task_instances("PodForeachDeferred", run_id)}
        run = rest.get_dag_run("PodForeachDeferred", run_id)
        if run.state in ("success", "failed"):
            break
        time.sleep(0.2)

    assert run.state == "success", _failed_task_logs(rest, "PodForeachDeferred", run_id)
    assert "deferred" in seen_states, "no pod step ever waited in the triggerer"
    flow_file = tmp_path / "pod_foreach_flow.py"
    shutil.copy(FLOWS / "pod_foreach_flow.py", flow_file)
    pathspec = f"PodForeachFlow/{metaflow_run_id('PodForeachDeferred', run_id)}"
    remote = run_artifacts(pathspec, pod_cluster.metaflow_env)
    local_run = run_flow_locally(flow_file, conf)
    assert remote["task_counts"] == task_counts(local_run)
    assert remote["artifacts"] == canonical(task_artifacts(local_run))
