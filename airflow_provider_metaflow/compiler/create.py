"""`airflow create`: plan, render, check, and write the DAG file atomically."""

from __future__ import annotations

import ast
import os
import tempfile
from typing import Any

from airflow_provider_metaflow.compiler.flow_plan import DeployOptions, build_plan
from airflow_provider_metaflow.compiler.metaflow_view import MetaflowView
from airflow_provider_metaflow.compiler.render import render_dag
from airflow_provider_metaflow.compiler.render_group import render_task_group
from airflow_provider_metaflow.plan import FlowPlan


def plan_flow(
    flow: Any, graph: Any, flow_file: str, options: DeployOptions, metaflow: MetaflowView
) -> FlowPlan:
    """The flow's plan; raises FlowCompileError, listing every problem, before anything is written."""
    return build_plan(flow, graph, os.path.abspath(flow_file), options, metaflow)


def render_checked(plan: FlowPlan, dag_file: str, task_group: bool = False) -> str:
    """DAG source for the plan (a TaskGroup module with `task_group`), parsed once here: a
    renderer bug must not reach the dags folder."""
    source = render_task_group(plan, dag_file) if task_group else render_dag(plan, dag_file)
    ast.parse(source, filename=dag_file)
    return source


def write_atomically(path: str, text: str) -> None:
    """Write via a temporary file and rename: a DAG processor never sees half a file.

    The file gets the mode any editor would give it (0666 less the umask), not mkstemp's 0600:
    a dag-processor or git-sync running as another user must be able to read it."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".metaflow-dag-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            os.fchmod(stream.fileno(), 0o666 & ~_umask())
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask
