"""Every flow shape Metaflow runs, run through Airflow, gives the same Metaflow run as
`python flow.py run`: the same tasks per step, the same artifacts on every task and on the end step.

The flows are generated from small graph specs (matrix_cases.py). By default the fast subset (one
flow per named case) is collected: make test runs the cases no named test covers and two of them as
a TaskGroup inside a DAG written by hand (`airflow create --task-group`), make test-all runs all of
them both ways, and `FLOW_MATRIX=full` (make test-matrix) runs the whole matrix both ways. A shape the
provider cannot run (refused at `airflow create`, or failing on Airflow) fails here: nothing is
skipped. `python tests/matrix/matrix_cases.py DIR` writes every flow file, to reproduce a failure.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flow_source import render
from graph_specs import GraphSpec
from matrix_cases import all_specs, fast_specs
from run_compare import differences, failure_reasons, summarize

from airflow_provider_metaflow.testing import TestEnvironment, create_dag, run_dag, run_flow_locally

FULL = os.environ.get("FLOW_MATRIX", "") == "full"
# make test runs two fast cases no named test of tests/test_flow_shapes.py covers (make test-all
# runs every fast case), and one as a TaskGroup: a loop in a foreach (tests/test_task_group.py
# runs the other shapes as groups).
MAKE_TEST_CASES = {"foreach-in-switch-in-foreach", "custom-start-end-skip-to-end"}
MAKE_TEST_GROUPS = {"loop-in-foreach"}


def _cases(specs: list[GraphSpec], in_make_test: set[str]) -> list[Any]:
    if FULL:
        return [pytest.param(spec, id=spec.id) for spec in specs]
    slow = pytest.mark.slow
    return [pytest.param(spec, id=spec.id, marks=() if spec.id in in_make_test else slow) for spec in specs]


SPECS = all_specs() if FULL else fast_specs()
HOST_DAG = """
from airflow.sdk import DAG, task
from {module} import {factory}

with DAG(dag_id={dag_id!r}, schedule=None) as dag:
    @task
    def before() -> None:
        pass

    @task
    def after() -> None:
        pass

    before() >> {factory}(group_id="flow") >> after()
"""

pytestmark = pytest.mark.matrix


def _write_flow(spec: GraphSpec, folder: Path) -> Path:
    path = folder / spec.file_name
    path.write_text(render(spec))
    return path


@pytest.mark.e2e
@pytest.mark.timeout(900)  # a hung DAG run fails this flow instead of stalling the whole matrix
@pytest.mark.parametrize("spec", _cases(SPECS, MAKE_TEST_CASES))
def test_generated_flow_runs_on_airflow_as_it_runs_locally(
    spec: GraphSpec,
    test_env: TestEnvironment,
    dag_path: Path,
    airflow_db: TestEnvironment,
    capfd: pytest.CaptureFixture[str],
) -> None:
    flow_file = _write_flow(spec, test_env.flows_folder)
    local = summarize(run_flow_locally(flow_file), spec.end)
    assert local.successful

    try:
        create_dag(flow_file, dag_path)
    except subprocess.CalledProcessError as error:
        pytest.fail(f"`airflow create` refused {flow_file.name}:\n{error.stderr.strip()}", pytrace=False)
    try:
        result = run_dag(dag_path)
    except AssertionError as error:  # the generated DAG file does not load
        pytest.fail(f"the DAG of {flow_file.name} does not load:\n{str(error)[-1500:]}", pytrace=False)

    _fail_unless_succeeded(result, f"the DAG run of {flow_file.name}", capfd)
    found = differences(summarize(result.run(), spec.end), local)
    assert not found, f"{flow_file.name}: the Airflow run differs from the local run:\n" + "\n".join(found)


@pytest.mark.e2e
@pytest.mark.timeout(900)
@pytest.mark.parametrize("spec", _cases(SPECS, MAKE_TEST_GROUPS))
def test_generated_flow_runs_as_a_task_group_as_it_runs_locally(
    spec: GraphSpec,
    test_env: TestEnvironment,
    dag_path: Path,
    airflow_db: TestEnvironment,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow_provider_metaflow.compiler.render_group import factory_name

    flow_file = _write_flow(spec, test_env.flows_folder)
    local = summarize(run_flow_locally(flow_file), spec.end)
    module = "group_" + re.sub(r"\W+", "_", spec.id)  # on sys.path: the dags folder
    module_file = test_env.dags_folder / f"{module}.py"
    create_dag(flow_file, module_file, "--task-group")
    factory = factory_name(spec.class_name)
    dag_path.write_text(HOST_DAG.format(module=module, factory=factory, dag_id=f"host_{module}"))
    try:
        result = run_dag(dag_path)
    finally:
        module_file.unlink()

    _fail_unless_succeeded(result, f"the DAG run with {flow_file.name} as a TaskGroup", capfd)
    found = differences(summarize(result.group_run("flow", spec.class_name), spec.end), local)
    assert not found, f"{flow_file.name} as a TaskGroup differs from the local run:\n" + "\n".join(found)


def _fail_unless_succeeded(result: Any, what: str, capfd: pytest.CaptureFixture[str]) -> None:
    if result.state != "success":
        reasons = failure_reasons(capfd.readouterr().out)
        pytest.fail(
            f"{what} ended {result.state}; "
            f"failed tasks: {_failed_tasks(result.dag_id, result.airflow_run_id)}\n{reasons}",
            pytrace=False,
        )


def _failed_tasks(dag_id: str, run_id: str) -> list[str]:
    """`task[map index]` of every task instance of the DAG run that failed."""
    from airflow.models.taskinstance import TaskInstance  # noqa: TID251 - reading the test database
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id, state="failed")
        return sorted(f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id for ti in rows)


def test_every_matrix_flow_passes_metaflow_lint(tmp_path: Path) -> None:
    """The generator only writes flows Metaflow accepts, so a failure above is never the generator's."""
    from metaflow import FlowSpec
    from metaflow.graph import FlowGraph  # noqa: TID251 - tests use Metaflow internals
    from metaflow.lint import linter  # noqa: TID251 - tests use Metaflow internals

    specs = all_specs()
    for spec in specs:
        path = _write_flow(spec, tmp_path)
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        flow: Any = getattr(module, spec.class_name)
        assert issubclass(flow, FlowSpec)
        graph = FlowGraph(flow)
        linter.run_checks(graph)
        assert (graph.start_step, graph.end_step) == (spec.start, spec.end), spec.id
    assert len({spec.id for spec in specs}) == len(specs)
    assert {spec.id for spec in fast_specs()} <= {spec.id for spec in specs}
