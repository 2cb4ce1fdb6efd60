"""Compile, run through Airflow, run with Metaflow's own runtime, and read results back."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_metaflow.runtime.ids import metaflow_run_id


@dataclass(frozen=True)
class DagRunResult:
    dag_id: str
    airflow_run_id: str
    state: str
    flow_name: str
    metaflow_run_id: str

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.metaflow_run_id}"

    def run(self) -> Any:
        """The Metaflow Run, read with the Metaflow client in the global namespace."""
        from metaflow import Run

        return Run(self.pathspec, _namespace_check=False)

    def group_run(self, group_id: str, flow_name: str | None = None) -> Any:
        """The Metaflow Run of the flow in MetaflowTaskGroup `group_id` (the DAG's flow if None)."""
        from metaflow import Run

        run_id = metaflow_run_id(self.dag_id, self.airflow_run_id, group_id)
        return Run(f"{flow_name or self.flow_name}/{run_id}", _namespace_check=False)


def create_dag(
    flow_file: str | Path,
    dag_file: str | Path,
    *options: str,
    name: str | None = None,
    top_level: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python flow.py [TOP-LEVEL] airflow [--name NAME] create DAG_FILE [options]`, with this
    process's environment plus `env`; raises on failure."""
    group_options = ["--name", name] if name else []
    argv = [
        sys.executable,
        str(flow_file),
        *top_level,
        "airflow",
        *group_options,
        "create",
        str(dag_file),
        *options,
    ]
    return subprocess.run(  # noqa: S603 - argv list
        argv,
        cwd=os.path.dirname(os.path.abspath(flow_file)),
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def run_dag(
    dag_file: str | Path, dag_id: str | None = None, conf: Mapping[str, Any] | None = None
) -> DagRunResult:
    """Load the DAG file in a real DagBag and run it once with dag.test() (SQLite)."""
    from airflow_provider_metaflow.version_compat import get_dagbag_class

    bag = get_dagbag_class()(dag_folder=str(dag_file))
    if bag.import_errors:
        raise AssertionError(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id) if dag_id else next(iter(bag.dags.values()))
    dag_run = dag.test(run_conf=dict(conf or {}))
    flow_name = _flow_name(dag)
    return DagRunResult(
        dag_id=dag.dag_id,
        airflow_run_id=dag_run.run_id,
        state=str(dag_run.state),
        flow_name=flow_name,
        metaflow_run_id=metaflow_run_id(dag.dag_id, dag_run.run_id),
    )


def _flow_name(dag: Any) -> str:
    for task in dag.tasks:  # the start step is never mapped, so some task has `flow`
        flow = getattr(task, "flow", None)
        if flow is not None:
            return str(flow.name)
    raise AssertionError(f"DAG {dag.dag_id} has no Metaflow task")


def run_flow_locally(
    flow_file: str | Path,
    parameters: Mapping[str, Any] | None = None,
    extra: Sequence[str] = (),
    extra_top_level: Sequence[str] = (),
) -> Any:
    """`python flow.py [TOP-LEVEL] run [EXTRA]` with Metaflow's own runtime; returns the Run."""
    from metaflow import Run

    run_id_file = Path(flow_file).with_suffix(".run_id")
    argv = [
        sys.executable,
        str(flow_file),
        "--quiet",
        *extra_top_level,
        "run",
        "--run-id-file",
        str(run_id_file),
    ]
    argv += extra
    for name, value in (parameters or {}).items():
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        argv.append(f"--{name}={text}")
    completed = subprocess.run(  # noqa: S603 - argv list
        argv,
        cwd=os.path.dirname(os.path.abspath(flow_file)),
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise AssertionError(f"`python flow.py run` failed:\n{completed.stdout}\n{completed.stderr}")
    flow_name = _flow_class_name(flow_file)
    return Run(f"{flow_name}/{run_id_file.read_text().strip()}", _namespace_check=False)


def _flow_class_name(flow_file: str | Path) -> str:
    tree = ast.parse(Path(flow_file).read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            getattr(base, "id", None) == "FlowSpec" for base in node.bases
        ):
            return node.name
    raise AssertionError(f"no FlowSpec class in {flow_file}")


def task_counts(run: Any) -> dict[str, int]:
    """{step: how many tasks it ran}, for comparing runs alongside `task_artifacts`.

    Tasks are counted, not keyed: two tasks of a step with the same foreach index path (a task run
    twice under two ids) count twice here, where `task_artifacts` keeps one of them.
    """
    return {step.id: sum(1 for _task in step) for step in run}


def task_artifacts(run: Any) -> dict[str, dict[tuple[int, ...], dict[str, Any]]]:
    """{step: {foreach index path: {artifact: value}}}, user artifacts only, for comparing runs.

    One entry per index path: a task duplicated at the same path does not show here, so compare
    `task_counts` too.
    """
    result: dict[str, dict[tuple[int, ...], dict[str, Any]]] = {}
    for step in run:
        tasks: dict[tuple[int, ...], dict[str, Any]] = {}
        for task in step:
            stack = task["_foreach_stack"].data if "_foreach_stack" in task else []
            key = tuple(frame.index for frame in stack)
            tasks[key] = {
                artifact.id: artifact.data
                for artifact in task
                if not artifact.id.startswith("_") and artifact.id != "name"
            }
        result[step.id] = tasks
    return result
