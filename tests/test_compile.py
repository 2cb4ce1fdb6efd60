"""`python flow.py airflow create`: what it writes, what it refuses, and what the DAG costs to parse."""

from __future__ import annotations

import datetime
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_metaflow.testing import create_dag
from airflow_provider_metaflow.version_compat import core_timetable, get_dagbag_class

# Refused, or (with @kubernetes) compiled only against a remote datastore: tests/pods.
REFUSED_FLOWS = {
    "unsupported_flow.py",
    "parallel_gang_flow.py",
    "scheduled_required_flow.py",
    "pod_retry_timeout_flow.py",
    "pod_xcom_flow.py",
}
FLOWS = sorted(
    p.name for p in (Path(__file__).parent / "flows").glob("*_flow.py") if p.name not in REFUSED_FLOWS
)


def _load(dag_file: Path) -> Any:
    bag = get_dagbag_class()(dag_folder=str(dag_file))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    return dag


@pytest.mark.compat
@pytest.mark.parametrize("flow_name", FLOWS)
def test_generated_dag_loads_in_a_real_dagbag(flow_name: str, flow_copy: Any, tmp_path: Path) -> None:
    dag_file = tmp_path / "dags" / "flow_dag.py"
    flow_file = flow_copy(flow_name)
    create_dag(flow_file, dag_file)

    dag = _load(dag_file)

    assert "start" in dag.task_dict and "end" in dag.task_dict
    # The tags a deployment is found again by: the flow, and a @project flow's project and branch.
    fields = dict(tag.split(":", 1) for tag in dag.tags - {"metaflow"})
    assert "metaflow" in dag.tags and f"class {fields.pop('metaflow_flow')}(" in flow_file.read_text()
    expected = {"metaflow_project", "metaflow_branch"} if "@project" in flow_file.read_text() else set()
    assert set(fields) == expected


@pytest.mark.compat
def test_loading_a_generated_dag_imports_no_metaflow(flow_copy: Any, tmp_path: Path) -> None:
    dag_file = tmp_path / "foreach_dag.py"
    create_dag(flow_copy("foreach_flow.py"), dag_file)
    probe = textwrap.dedent(
        f"""
        import sys
        from airflow_provider_metaflow.version_compat import core_timetable, get_dagbag_class
        bag = get_dagbag_class()(dag_folder={str(dag_file)!r})
        assert not bag.import_errors, bag.import_errors
        assert len(bag.dags) == 1
        print(sorted(m for m in sys.modules if m == "metaflow" or m.startswith("metaflow.")))
        """
    )
    output = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert output.strip().splitlines()[-1] == "[]"


def test_compiling_imports_no_airflow(flow_copy: Any, tmp_path: Path) -> None:
    flow_file = flow_copy("foreach_flow.py")
    probe = textwrap.dedent(
        f"""
        import atexit, runpy, sys
        def report():
            loaded = [m for m in sys.modules if m == "airflow" or m.startswith("airflow.")]
            print("AIRFLOW MODULES", len(loaded))
        atexit.register(report)
        sys.argv = [{str(flow_file)!r}, "--quiet", "airflow", "create", {str(tmp_path / "x_dag.py")!r}]
        runpy.run_path(sys.argv[0], run_name="__main__")
        """
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert "AIRFLOW MODULES 0" in completed.stdout, completed.stdout + completed.stderr
    assert (tmp_path / "x_dag.py").exists()


def test_create_options_keep_metaflows_meaning(flow_copy: Any, tmp_path: Path) -> None:
    dag_file = tmp_path / "opts_dag.py"
    completed = create_dag(
        flow_copy("linear_flow.py"),
        dag_file,
        "--tag",
        "team:ml",
        "--tag",
        "nightly",
        "--namespace",
        "analytics",
        "--max-workers",
        "7",
        "--workflow-timeout",
        "3600",
        "--worker-pool",
        "metaflow_pool",
        "--is-paused-upon-creation",
        name="linear_custom",
    )

    dag = _load(dag_file)

    assert dag.dag_id == "linear_custom"
    assert dag.max_active_tasks == 7
    assert dag.dagrun_timeout == datetime.timedelta(hours=1)
    assert dag.is_paused_upon_creation is True
    assert {task.pool for task in dag.tasks} == {"metaflow_pool"}
    start = dag.task_dict["start"]
    assert list(start.flow.tags) == ["team:ml", "nightly"] and start.flow.namespace == "analytics"
    assert str(dag_file) in completed.stdout + completed.stderr


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)], ids=["umask-022", "umask-027"])
def test_dag_file_gets_the_mode_the_umask_allows_like_any_new_file(
    umask: int, mode: int, flow_copy: Any, tmp_path: Path
) -> None:
    """A dag-processor or git-sync running as another user reads the file the umask lets it read,
    also where an earlier `create` left a private file."""
    dag_file = tmp_path / "dags" / "linear_dag.py"
    dag_file.parent.mkdir()
    dag_file.write_text("# an earlier DAG file, private\n")
    dag_file.chmod(0o600)
    previous = os.umask(umask)
    try:
        create_dag(flow_copy("linear_flow.py"), dag_file)
    finally:
        os.umask(previous)

    assert stat.S_IMODE(dag_file.stat().st_mode) == mode
    assert "LinearFlow" in dag_file.read_text()
    assert list(dag_file.parent.glob(".metaflow-dag-*")) == []


def test_without_paused_flag_airflows_own_setting_decides(flow_copy: Any, tmp_path: Path) -> None:
    dag_file = tmp_path / "default_dag.py"
    create_dag(flow_copy("linear_flow.py"), dag_file)

    assert "is_paused_upon_creation" not in dag_file.read_text()
    assert _load(dag_file).is_paused_upon_creation is None


def test_parameters_become_typed_dag_params(flow_copy: Any, tmp_path: Path) -> None:
    dag_file = tmp_path / "params_dag.py"
    create_dag(flow_copy("linear_flow.py"), dag_file)

    params = _load(dag_file).params
    schemas = {name: params.get_param(name).schema["type"] for name in params}
    assert schemas == {"alpha": "number", "count": "integer", "label": "string", "loud": "boolean"}
    assert params["alpha"] == 0.5 and params["loud"] is False


def test_retry_and_timeout_become_task_settings(flow_copy: Any, tmp_path: Path) -> None:
    dag_file = tmp_path / "retry_dag.py"
    create_dag(flow_copy("retry_flow.py"), dag_file)

    flaky = _load(dag_file).task_dict["flaky"]
    assert flaky.retries == 2
    assert flaky.retry_delay == datetime.timedelta(0)


@pytest.mark.parametrize("named", ["file", "folder"])
def test_a_docstring_ending_in_md_is_shown_as_text_never_as_the_file_it_names(
    named: str, flow_copy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow opens a doc_md ending in '.md' as a path, relative to the DAG processor's working
    directory: here the dags folder, where the docstring names a file (or a folder)."""
    dags = tmp_path / "dags"
    named_path = dags / "docs" / "training.md"
    if named == "file":
        named_path.parent.mkdir(parents=True)
        named_path.write_text("# Someone else's file\n")
    else:
        named_path.mkdir(parents=True)
    dag_file = dags / "markdown_doc_dag.py"
    create_dag(flow_copy("markdown_doc_flow.py"), dag_file)
    monkeypatch.chdir(dags)

    doc = _load(dag_file).doc_md

    assert doc.strip() == "docs/training.md"


def test_retry_and_timeout_as_strings_of_digits_are_read_as_metaflow_reads_them(
    flow_copy: Any, tmp_path: Path
) -> None:
    dag_file = tmp_path / "retry_strings_dag.py"
    create_dag(flow_copy("retry_strings_flow.py"), dag_file)

    start = _load(dag_file).task_dict["start"]
    assert start.retries == 2
    assert start.retry_delay == datetime.timedelta(minutes=1)
    assert start.execution_timeout == datetime.timedelta(minutes=1, seconds=90)


def test_schedule_fires_once_per_period(flow_copy: Any, tmp_path: Path) -> None:
    from airflow.timetables.base import DataInterval, TimeRestriction

    dag_file = tmp_path / "scheduled_dag.py"
    create_dag(flow_copy("scheduled_flow.py"), dag_file)
    dag = _load(dag_file)
    assert "schedule='30 6 * * 1-5'" in dag_file.read_text()

    restriction = TimeRestriction(earliest=None, latest=None, catchup=True)
    start = datetime.datetime(2026, 11, 23, 0, 0, tzinfo=datetime.UTC)  # a Monday
    timetable = core_timetable(dag.timetable)
    fire_times = []
    last = DataInterval(start, start)
    for _ in range(6):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        fire_times.append(info.run_after)
        last = info.data_interval
    assert [t.strftime("%a %H:%M:%S") for t in fire_times] == [
        "Mon 06:30:00",
        "Tue 06:30:00",
        "Wed 06:30:00",
        "Thu 06:30:00",
        "Fri 06:30:00",
        "Mon 06:30:00",
    ]


def test_schedule_keeps_its_timezone(flow_copy: Any, tmp_path: Path) -> None:
    from airflow.timetables.base import DataInterval, TimeRestriction

    dag_file = tmp_path / "scheduled_tz_dag.py"
    create_dag(flow_copy("scheduled_tz_flow.py"), dag_file)
    assert "schedule=cron_timetable('0 9 * * MON-FRI', timezone='Europe/Paris')" in dag_file.read_text()
    timetable = core_timetable(_load(dag_file).timetable)

    restriction = TimeRestriction(earliest=None, latest=None, catchup=True)
    fire_times = []
    for start in (
        datetime.datetime(2026, 1, 12, tzinfo=datetime.UTC),
        datetime.datetime(2026, 7, 13, tzinfo=datetime.UTC),
    ):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=DataInterval(start, start), restriction=restriction
        )
        fire_times.append(info.run_after.in_timezone("UTC").strftime("%a %H:%M"))
    assert fire_times == ["Mon 08:00", "Mon 07:00"]  # 09:00 in Paris in winter and in summer


def test_every_problem_is_reported_at_once_and_nothing_is_written(
    flow_copy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dag_file = tmp_path / "bad_dag.py"
    dag_file.write_text("# the previous, working DAG\n")
    monkeypatch.setenv("METAFLOW_HOME", str(tmp_path / "metaflow-home"))

    with pytest.raises(subprocess.CalledProcessError) as failure:
        create_dag(flow_copy("unsupported_flow.py"), dag_file)

    message = failure.value.stdout + failure.value.stderr
    assert "3 problems" in message
    assert "step 'start': uses num_parallel (@parallel)" in message
    assert "step 'gang' @parallel: is not supported on Airflow" in message
    assert "parameter 'when': has type 'complex'" in message
    assert dag_file.read_text() == "# the previous, working DAG\n"
    assert list(tmp_path.glob(".metaflow-dag-*")) == []
    assert not (tmp_path / "metaflow-home").exists()  # no production token was minted


def test_dag_from_an_incompatible_provider_version_fails_to_load_clearly(
    flow_copy: Any, tmp_path: Path
) -> None:
    dag_file = tmp_path / "future_dag.py"
    create_dag(flow_copy("linear_flow.py"), dag_file)
    dag_file.write_text(dag_file.read_text().replace("dag_format=2", "dag_format=99"))

    bag = get_dagbag_class()(dag_folder=str(dag_file))

    (error,) = bag.import_errors.values()
    assert "DAG format 99" in error and "Regenerate the DAG" in error


def test_required_parameter_without_default_cannot_be_scheduled(flow_copy: Any, tmp_path: Path) -> None:
    dag_file = tmp_path / "scheduled_required_dag.py"

    with pytest.raises(subprocess.CalledProcessError) as failure:
        create_dag(flow_copy("scheduled_required_flow.py"), dag_file)

    message = failure.value.stdout + failure.value.stderr
    assert "parameter 'day': is required and has no default, and the flow has @schedule" in message
    assert "Give it a default, or remove @schedule" in message
    assert not dag_file.exists()


@pytest.mark.parametrize(
    ("decorator", "remedy"),
    [
        ("batch", "deploy this flow with `step-functions create`"),
        ("conda", "Install the step's packages in the worker's environment"),
    ],
)
def test_step_decorators_that_cannot_run_here_are_named_with_a_remedy(decorator: str, remedy: str) -> None:
    """Metaflow's own checks refuse these without a cloud datastore before the compiler sees them,
    so the compiler is given the flow's graph directly."""
    import metaflow
    from metaflow.graph import FlowGraph  # noqa: TID251 - tests use Metaflow internals

    from airflow_provider_metaflow.compiler.errors import FlowCompileError
    from airflow_provider_metaflow.compiler.flow_plan import DeployOptions, build_plan
    from metaflow_extensions.airflow_provider_metaflow.plugins import metaflow_deploy_adapter

    deco = getattr(metaflow, decorator)

    class CloudFlow(metaflow.FlowSpec):
        @metaflow.step
        def start(self):  # type: ignore[no-untyped-def]
            self.next(self.train)

        @deco
        @metaflow.step
        def train(self):  # type: ignore[no-untyped-def]
            self.next(self.end)

        @metaflow.step
        def end(self):  # type: ignore[no-untyped-def]
            pass

    with pytest.raises(FlowCompileError) as failure:
        build_plan(
            CloudFlow,
            FlowGraph(CloudFlow),
            "/flows/cloud.py",
            DeployOptions(dag_id="CloudFlow"),
            metaflow_deploy_adapter,
        )

    (problem,) = failure.value.problems
    assert problem.where == f"step 'train' @{decorator}"
    assert remedy in problem.fix
