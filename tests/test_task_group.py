"""A flow as a TaskGroup inside a hand-written DAG (`airflow create --task-group`): each group is
its own Metaflow run, fed by templates and XComArgs, and equal to `python flow.py run`."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from xcom_reads import task_instance

from airflow_provider_metaflow.testing import (
    create_dag,
    run_dag,
    run_flow_locally,
    task_artifacts,
    task_counts,
)
from airflow_provider_metaflow.version_compat import get_dagbag_class

TWO_GROUPS_DAG = """
from airflow.sdk import DAG, Param, task
from {module} import group_flow

with DAG(dag_id={dag_id!r}, schedule=None, params={{"ratio": Param(0.25, type="number")}}) as dag:
    @task
    def extract() -> int:
        return 4

    rows = extract()
    first = group_flow(
        group_id="first",
        parameters={{"rows": rows, "label": "{{{{ dag.dag_id }}}}", "ratio": "{{{{ params.ratio }}}}"}},
    )
    second = group_flow(group_id="second", parameters={{"rows": {second_rows}, "label": "second"}})
    rows >> first
"""


@pytest.fixture
def group_module(flow_copy: Any, test_env: Any, request: pytest.FixtureRequest) -> Any:
    """`airflow create --task-group` of group_flow.py into the dags folder (on sys.path, as Airflow
    puts it), under a module name of this test's own: Python caches imported modules by name."""
    flow_file = flow_copy("group_flow.py")
    module = "group_" + re.sub(r"\W+", "_", request.node.name)
    module_file = test_env.dags_folder / f"{module}.py"
    create_dag(flow_file, module_file, "--task-group")
    yield flow_file, module
    module_file.unlink(missing_ok=True)


def _steps_that_ran(result: Any, group_id: str) -> set[str]:
    from metaflow.exception import MetaflowNotFound

    try:
        return {step.id for step in result.group_run(group_id, "GroupFlow")}
    except MetaflowNotFound:
        return set()


@pytest.mark.e2e
def test_two_groups_of_one_flow_are_two_runs_equal_to_python_flow_run(
    group_module: Any, dag_path: Path, airflow_db: Any
) -> None:
    flow_file, module = group_module
    dag_path.write_text(TWO_GROUPS_DAG.format(module=module, dag_id="two_groups", second_rows=2))

    result = run_dag(dag_path)

    assert result.state == "success"
    first, second = result.group_run("first", "GroupFlow"), result.group_run("second", "GroupFlow")
    assert first.id != second.id
    # The XComArg arrived as an int, the template as text read by the Parameter as a float.
    assert first["start"].task["kinds"].data == {"rows": "int", "ratio": "float"}
    for run, parameters in (
        (first, {"rows": 4, "label": "two_groups", "ratio": 0.25}),
        (second, {"rows": 2, "label": "second"}),
    ):
        local = run_flow_locally(flow_file, parameters)
        assert run.successful
        assert task_counts(run) == task_counts(local)
        assert task_artifacts(run) == task_artifacts(local)


@pytest.mark.e2e
def test_a_template_of_the_wrong_type_fails_only_its_group_naming_the_parameter(
    group_module: Any, dag_path: Path, airflow_db: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    _flow_file, module = group_module
    source = TWO_GROUPS_DAG.format(module=module, dag_id="wrong_type", second_rows=2)
    dag_path.write_text(source.replace('"rows": rows', '"rows": "{{ dag.dag_id }}"'))

    result = run_dag(dag_path)

    assert result.state == "failed"
    start = task_instance(result.dag_id, result.airflow_run_id, "first.start")
    assert start.state == "failed"
    output = capfd.readouterr()
    assert "Parameter 'rows' is of type integer, but the run gives 'wrong_type'" in output.out + output.err
    assert "start" not in _steps_that_ran(result, "first"), "no user code ran"
    assert result.group_run("second", "GroupFlow").successful, "the other group is not affected"


def test_a_group_keeps_the_tasks_of_the_generated_dag_under_its_prefix(
    group_module: Any, flow_copy: Any, dag_path: Path, tmp_path: Path
) -> None:
    flow_file, module = group_module
    dag_path.write_text(TWO_GROUPS_DAG.format(module=module, dag_id="layout", second_rows=2))
    create_dag(flow_file, tmp_path / "generated.py")
    bag = get_dagbag_class()
    host = next(iter(bag(dag_folder=str(dag_path)).dags.values()))
    generated = next(iter(bag(dag_folder=str(tmp_path / "generated.py")).dags.values()))

    def shape(task: Any) -> tuple[Any, ...]:
        return (
            type(task).__name__,
            sorted(task.upstream_task_ids),
            task.retries,
            task.trigger_rule,
            [type(link).__name__ for link in task.operator_extra_links],
        )

    expected = {task.task_id: shape(task) for task in generated.tasks}
    for group in ("first", "second"):
        prefix = f"{group}."
        tasks = {task.task_id[len(prefix) :]: task for task in host.tasks if task.task_id.startswith(prefix)}
        found = {
            task_id: (kind, sorted(t[len(prefix) :] for t in upstream if t.startswith(prefix)), *rest)
            for task_id, (kind, upstream, *rest) in ((i, shape(t)) for i, t in tasks.items())
        }
        assert found == expected


def test_the_factory_signature_does_not_depend_on_the_flow(flow_copy: Any, tmp_path: Path) -> None:
    signatures = []
    for name in ("group_flow.py", "switch_flow.py", "exit_hook_flow.py"):
        module_file = tmp_path / f"{Path(name).stem}_group.py"
        create_dag(flow_copy(name), module_file, "--task-group")
        namespace: dict[str, Any] = {"__file__": str(module_file)}
        exec(compile(module_file.read_text(), str(module_file), "exec"), namespace)  # noqa: S102 - our module
        factory = next(
            value for key, value in namespace.items() if inspect.isfunction(value) and not key.startswith("_")
        )
        signatures.append(str(inspect.signature(factory)).replace(f"'{factory.__name__}'", "'NAME'"))
    assert len(set(signatures)) == 1, signatures


def test_parsing_a_dag_with_a_group_does_not_import_metaflow(group_module: Any, dag_path: Path) -> None:
    _flow_file, module = group_module
    dag_path.write_text(TWO_GROUPS_DAG.format(module=module, dag_id="parse_only", second_rows=2))
    script = (
        "import json, os, sys\n"
        "from airflow_provider_metaflow.version_compat import get_dagbag_class\n"
        "sys.path.append(os.path.dirname(sys.argv[1]))  # the bundle root, as Airflow adds it\n"
        "bag = get_dagbag_class()(dag_folder=sys.argv[1])\n"
        "loaded = sorted(m for m in sys.modules if m == 'metaflow' or m.startswith('metaflow.'))\n"
        "errors = list(bag.import_errors.values())\n"
        "print(json.dumps({'errors': errors, 'metaflow': loaded, 'dags': len(bag.dags)}))\n"
    )
    completed = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-c", script, str(dag_path)], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip().splitlines()[-1] == '{"errors": [], "metaflow": [], "dags": 1}'


def test_a_group_id_that_collides_with_a_task_is_refused_at_parse(group_module: Any, dag_path: Path) -> None:
    _flow_file, module = group_module
    source = TWO_GROUPS_DAG.format(module=module, dag_id="collision", second_rows=2)
    dag_path.write_text(source.replace('group_id="second"', 'group_id="extract"'))

    errors = get_dagbag_class()(dag_folder=str(dag_path)).import_errors

    assert "extract" in " ".join(errors.values()) and "already been added" in " ".join(errors.values())


def test_a_parameter_the_flow_does_not_have_is_refused_at_parse(group_module: Any, dag_path: Path) -> None:
    _flow_file, module = group_module
    source = TWO_GROUPS_DAG.format(module=module, dag_id="unknown", second_rows=2)
    dag_path.write_text(source.replace('"label": "second"', '"lable": "second"'))

    errors = " ".join(get_dagbag_class()(dag_folder=str(dag_path)).import_errors.values())

    assert "MetaflowTaskGroup 'second': 'lable' is not a Parameter of flow GroupFlow" in errors


@pytest.mark.parametrize(
    ("flow_name", "options", "message"),
    [
        ("event_flow.py", (), "@trigger"),
        ("downstream_flow.py", (), "@trigger_on_finish"),
        ("group_flow.py", ("--max-workers", "4"), "--max-workers configures a DAG of its own"),
        ("group_flow.py", ("--workflow-timeout", "60"), "--workflow-timeout configures a DAG of its own"),
    ],
)
def test_what_only_a_dag_of_its_own_can_do_is_refused_for_a_group(
    flow_name: str, options: tuple[str, ...], message: str, flow_copy: Any, tmp_path: Path
) -> None:
    module_file = tmp_path / "group.py"
    with pytest.raises(subprocess.CalledProcessError) as failure:
        create_dag(flow_copy(flow_name), module_file, "--task-group", *options)
    assert message in failure.value.stderr + failure.value.stdout
    assert not module_file.exists()


RETRY_AND_EXIT_HOOK_DAG = """
from airflow.sdk import DAG
from {retry_module} import retry_flow
from {hook_module} import exit_hook_flow
from {catch_module} import decorators_flow

with DAG(dag_id="retry_and_exit_hook", schedule=None) as dag:
    retrying = retry_flow(group_id="retrying", parameters={{"greeting": "hi"}})
    hooked = exit_hook_flow(group_id="hooked", parameters={{"fail": True}})
    catching = decorators_flow(group_id="catching")
"""


@pytest.mark.e2e
def test_retries_catch_and_exit_hooks_work_inside_a_group(
    flow_copy: Any, test_env: Any, dag_path: Path, airflow_db: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    modules = {}
    for name in ("retry_flow.py", "exit_hook_flow.py", "decorators_flow.py"):
        modules[name] = f"group_{Path(name).stem}_{dag_path.stem}"
        create_dag(flow_copy(name), test_env.dags_folder / f"{modules[name]}.py", "--task-group")
    hook_log = tmp_path / "hooks.log"
    monkeypatch.setenv("EXIT_HOOK_LOG", str(hook_log))
    dag_path.write_text(
        RETRY_AND_EXIT_HOOK_DAG.format(
            retry_module=modules["retry_flow.py"],
            hook_module=modules["exit_hook_flow.py"],
            catch_module=modules["decorators_flow.py"],
        )
    )

    result = run_dag(dag_path)

    assert result.state == "failed", "the hooked flow's end step fails on request"
    retrying = result.group_run("retrying", "RetryFlow")
    local = run_flow_locally(test_env.flows_folder / "retry_flow.py", {"greeting": "hi"})
    assert retrying.successful
    assert task_counts(retrying) == task_counts(local)
    assert task_artifacts(retrying) == task_artifacts(local)
    assert task_instance(result.dag_id, result.airflow_run_id, "retrying.flaky").try_number == 2
    # @catch with @retry(times=1) inside a group: user code ran twice, the second exception was caught.
    catching = result.group_run("catching", "DecoratorsFlow")
    assert catching.successful
    assert task_counts(catching) == task_counts(
        run_flow_locally(test_env.flows_folder / "decorators_flow.py")
    )
    assert catching["caught"].task.current_attempt == 1
    assert "always fails, attempt 1" in catching["end"].task["failure_text"].data
    # The teardown found the group's end step by its task id inside the group, and saw it fail.
    assert hook_log.read_text() == "error False\n"
    assert task_instance(result.dag_id, result.airflow_run_id, "hooked.metaflow_exit_hook").state == "success"
    for module in modules.values():
        (test_env.dags_folder / f"{module}.py").unlink()
