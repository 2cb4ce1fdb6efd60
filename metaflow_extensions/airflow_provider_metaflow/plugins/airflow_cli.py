"""`python flow.py airflow create DAG_FILE`: compile a flow into a thin Airflow DAG file.

The options are those of Metaflow's own `airflow create`, with the same meaning, so existing
deploy scripts keep working.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from typing import Any

from metaflow.exception import MetaflowException

from . import metaflow_deploy_adapter as adapter
from .deployment import DagIdentity, is_deployed, resolve_dag_identity, resolve_token
from .metaflow_deploy_adapter import click

DEFAULT_MAX_WORKERS = 100
_VALID_DAG_ID = re.compile(r"\A(?=.*[a-zA-Z0-9])[a-zA-Z0-9_.\-]{1,250}\Z")


class AirflowCompileError(MetaflowException):
    headline = "Cannot compile this flow for Airflow"


@click.group()
def cli() -> None:
    pass


@cli.group(help="Commands related to Airflow.")
@click.option(
    "--name",
    default=None,
    type=str,
    help="Airflow DAG name. The flow name is used instead if this option is not specified.",
)
@click.pass_obj
def airflow(obj: Any, name: str | None = None) -> None:
    obj.check(obj.graph, obj.flow, obj.environment, pylint=obj.pylint)
    obj.dag_identity = resolve_dag_identity(name, obj.graph.name)
    if not _VALID_DAG_ID.match(obj.dag_identity.dag_id):
        raise AirflowCompileError(
            f"DAG id {obj.dag_identity.dag_id!r} is not a valid Airflow DAG id: use up to 250 letters, "
            "digits, '_', '-' and '.', with at least one letter or digit (pass --name)."
        )


@airflow.command(help="Compile a new version of this flow to an Airflow DAG file.")
@click.argument("file", required=True)
@click.option(
    "--authorize",
    default=None,
    help="Authorize using this production token. You need this when you are re-deploying an "
    "existing flow for the first time. The token is cached in METAFLOW_HOME, so you only need "
    "to specify this once.",
)
@click.option(
    "--generate-new-token",
    is_flag=True,
    help="Generate a new production token for this flow. This will move the production flow to "
    "a new namespace.",
)
@click.option(
    "--new-token",
    "given_token",
    default=None,
    help="Use the given production token for this flow. This will move the production flow to "
    "the given namespace.",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    default=None,
    help="Annotate all objects produced by Airflow DAG executions with the given tag. "
    "You can specify this option multiple times to attach multiple tags.",
)
@click.option(
    "--is-paused-upon-creation",
    default=False,
    is_flag=True,
    help="Generated Airflow DAG is paused upon creation. Without it, Airflow's "
    "dags_are_paused_at_creation setting decides.",
)
@click.option(
    "--namespace",
    "user_namespace",
    default=None,
    help="Change the namespace from the default to the given tag. See run --help for more information.",
)
@click.option(
    "--max-workers",
    default=None,
    type=int,
    help="Maximum number of parallel processes (the DAG's max_active_tasks)  [default: 100].",
)
@click.option(
    "--workflow-timeout",
    default=None,
    type=int,
    help="Workflow timeout in seconds (the DAG run timeout).",
)
@click.option(
    "--worker-pool",
    default=None,
    help="Airflow pool in which every Metaflow step runs.",
)
@click.option(
    "--metaflow-conn-id",
    default=None,
    help="Airflow connection (type metaflow) with the Metaflow configuration every step uses: "
    "datastore, metadata service, credentials. Without it, each worker's own Metaflow config.",
)
@click.option(
    "--deferrable",
    is_flag=True,
    default=False,
    help="Steps that run as Kubernetes pods wait in Airflow's triggerer, freeing worker slots "
    "(KubernetesPodOperator's deferrable mode). Without it, [operators] default_deferrable decides.",
)
@click.option(
    "--task-group",
    is_flag=True,
    default=False,
    help="Write a module with a factory function that adds the flow to DAGs you write yourself, "
    "as a TaskGroup, instead of a DAG of its own.",
)
@click.pass_obj
def create(
    obj: Any,
    file: str,
    authorize: str | None = None,
    generate_new_token: bool = False,
    given_token: str | None = None,
    tags: tuple[str, ...] | None = None,
    is_paused_upon_creation: bool = False,
    user_namespace: str | None = None,
    max_workers: int | None = None,
    workflow_timeout: int | None = None,
    worker_pool: str | None = None,
    metaflow_conn_id: str | None = None,
    deferrable: bool = False,
    task_group: bool = False,
) -> None:
    from airflow_provider_metaflow.compiler.create import plan_flow, render_checked, write_atomically
    from airflow_provider_metaflow.compiler.errors import FlowCompileError
    from airflow_provider_metaflow.compiler.flow_plan import DeployOptions

    if not file.endswith(".py"):
        raise AirflowCompileError(f"DAG file {file!r} must end in .py for Airflow to load it.")
    flow_file = os.path.abspath(inspect.getfile(type(obj.flow)))
    if os.path.abspath(file) == flow_file:
        raise AirflowCompileError("The DAG file cannot be the flow file itself; name another .py file.")
    identity: DagIdentity = obj.dag_identity
    if task_group:
        _check_group_options(max_workers, workflow_timeout, is_paused_upon_creation)
    elif max_workers is None:
        max_workers = DEFAULT_MAX_WORKERS
    adapter.validate_tags(tags or ())  # Metaflow's own rules, as its other schedulers check them
    options = DeployOptions(
        dag_id=identity.dag_id,
        user=adapter.username(),
        top_level_options=adapter.project_options(obj.flow),
        tags=tuple(tags or ()),
        namespace=user_namespace,
        max_workers=max_workers,
        workflow_timeout=workflow_timeout,
        worker_pool=worker_pool,
        is_paused_upon_creation=True if is_paused_upon_creation else None,
        metaflow_conn_id=metaflow_conn_id,
        deferrable_pods=deferrable,
        task_group=task_group,
        deployed=lambda dag_id: is_deployed(obj.flow_datastore, dag_id),
    )
    try:
        plan = plan_flow(obj.flow, obj.graph, flow_file, options, adapter)
    except FlowCompileError as error:
        raise AirflowCompileError(str(error)) from None
    # Only a flow that compiles may claim or renew a production token.
    token = resolve_token(obj, identity, authorize, given_token, generate_new_token)
    plan = dataclasses.replace(plan, production_token=token, code_package=_code_package(obj, plan))
    write_atomically(file, render_checked(plan, file, task_group=task_group))
    if task_group:
        _echo_task_group(obj, plan, file)
        return
    obj.echo(f"Deployed *{plan.flow_name}* as Airflow DAG *{plan.dag_id}* in *{file}*.", bold=True)
    obj.echo(
        "Put this file in your Airflow dags folder (next to the flow file at the relative path it "
        "names), with airflow-provider-metaflow installed on the workers; Airflow picks it up on "
        "its next parse. Trigger it with `airflow dags trigger " + plan.dag_id + "`."
    )


def _check_group_options(
    max_workers: int | None, workflow_timeout: int | None, is_paused_upon_creation: bool
) -> None:
    """Options that configure a DAG of its own mean nothing for a TaskGroup: say so, do not drop them."""
    given = [
        option
        for option, value in (
            ("--max-workers", max_workers),
            ("--workflow-timeout", workflow_timeout),
            ("--is-paused-upon-creation", is_paused_upon_creation or None),
        )
        if value is not None
    ]
    if given:
        raise AirflowCompileError(
            f"{', '.join(given)} {'configures' if len(given) == 1 else 'configure'} a DAG of its own, but "
            "--task-group writes a TaskGroup for a DAG you write: set max_active_tasks, dagrun_timeout or "
            "is_paused_upon_creation on that DAG instead, and leave the option out."
        )


def _echo_task_group(obj: Any, plan: Any, file: str) -> None:
    from airflow_provider_metaflow.compiler.render_group import factory_name

    module = os.path.splitext(os.path.basename(file))[0]
    function = factory_name(plan.dag_id)
    obj.echo(f"Wrote *{plan.flow_name}* as TaskGroup factory *{function}()* in *{file}*.", bold=True)
    obj.echo(
        f"In a DAG file: `from {module} import {function}`, then, inside `with DAG(...)`: "
        f'`{function}(group_id="...", parameters={{...}})`. Keep the module next to the flow file at '
        "the relative path it names."
    )


def _code_package(obj: Any, plan: Any) -> Any:
    """Steps that run as pods get the flow's code from a package in the datastore."""
    from airflow_provider_metaflow.plan import CodePackage

    if not any(step.pod is not None for step in plan.steps):
        return None
    url, sha, metadata = adapter.upload_code_package(obj)
    obj.echo(f"Code package of *{plan.flow_name}* is at {url}.")
    return CodePackage(url=url, sha=sha, metadata=metadata)
