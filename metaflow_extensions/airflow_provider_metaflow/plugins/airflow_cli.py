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


class AirflowNotSupported(AirflowCompileError):
    """What the flow asks for has no Airflow form (the words Metaflow's deployers use)."""

    headline = "What this flow asks for is not supported on Airflow"


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


@airflow.command(
    help="Compile a new version of this flow to an Airflow DAG file. With no FILE, deploy it: "
    "write the DAG (and the flow file) into the configured deployment's DAGs folder and have "
    "Airflow list it at once."
)
@click.argument("file", required=False)
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
@click.option(
    "--deployer-attribute-file",
    default=None,
    hidden=True,
    help="Write the deployment's name, flow and metadata here (Metaflow's Deployer API).",
)
@click.pass_obj
def create(
    obj: Any,
    file: str | None = None,
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
    deployer_attribute_file: str | None = None,
) -> None:
    from airflow_provider_metaflow.compiler.create import plan_flow, render_checked, write_atomically
    from airflow_provider_metaflow.compiler.errors import FlowCompileError
    from airflow_provider_metaflow.compiler.flow_plan import DeployOptions

    flow_file = os.path.abspath(inspect.getfile(type(obj.flow)))
    identity: DagIdentity = obj.dag_identity
    target = _deploy_target(obj, task_group) if file is None else None
    if target is not None:
        file, deployed_flow_file = str(target.files.dag_file), str(target.files.flow_file)
    else:
        assert file is not None
        _check_dag_file(file, flow_file)
        deployed_flow_file = flow_file
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
        plan = plan_flow(obj.flow, obj.graph, deployed_flow_file, options, adapter)
    except FlowCompileError as error:
        raise AirflowNotSupported(str(error)) from None
    # Only a flow that compiles may claim or renew a production token.
    token = resolve_token(obj, identity, authorize, given_token, generate_new_token)
    plan = dataclasses.replace(plan, production_token=token, code_package=_code_package(obj, plan))
    source = render_checked(plan, file, task_group=task_group)
    if target is not None:
        _deploy(obj, target, source, paused=is_paused_upon_creation)
    else:
        write_atomically(file, source)
    if deployer_attribute_file:
        _write_deployer_attributes(obj, deployer_attribute_file, plan.dag_id, token)
    if task_group:
        _echo_task_group(obj, plan, file)
        return
    obj.echo(f"Deployed *{plan.flow_name}* as Airflow DAG *{plan.dag_id}* in *{file}*.", bold=True)
    if target is not None:
        obj.echo(f"Airflow at {target.deployment.api_url} lists it. Run it with `airflow trigger`.")
        return
    obj.echo(
        "Put this file in your Airflow dags folder (next to the flow file at the relative path it "
        "names), with airflow-provider-metaflow installed on the workers; Airflow picks it up on "
        "its next parse. Trigger it with `airflow dags trigger " + plan.dag_id + "`."
    )


def _check_dag_file(file: str, flow_file: str) -> None:
    if not file.endswith(".py"):
        raise AirflowCompileError(f"DAG file {file!r} must end in .py for Airflow to load it.")
    if os.path.abspath(file) == flow_file:
        raise AirflowCompileError("The DAG file cannot be the flow file itself; name another .py file.")


@dataclasses.dataclass(frozen=True)
class _DeployTarget:
    deployment: Any  # remote.settings.AirflowDeployment
    files: Any  # remote.deploy.DeployedFiles


def _deploy_target(obj: Any, task_group: bool) -> _DeployTarget:
    """Where `create` with no FILE writes: the configured deployment's DAGs folder. Checked before
    anything is compiled or written; the deployment itself is asked only once the flow compiled."""
    from airflow_provider_metaflow.compiler.render import GENERATED_HEADER
    from airflow_provider_metaflow.remote.deploy import deployed_files
    from airflow_provider_metaflow.remote.settings import DAGS_FOLDER

    if task_group:
        raise AirflowCompileError(
            "--task-group writes a module for DAGs you write yourself: name the file "
            "(create --task-group FILE)."
        )
    deployment = _deployment()
    folder = deployment.dags_folder
    if not folder:
        raise AirflowCompileError(
            f"Deploying to {deployment.api_url} needs its DAGs folder as this machine sees it: set "
            f"METAFLOW_{DAGS_FOLDER}, or name a DAG file (create FILE) and copy it there yourself."
        )
    flow_file = inspect.getfile(type(obj.flow))
    files = deployed_files(folder, obj.dag_identity.dag_id, flow_file)
    if files.dag_file.exists():
        with open(files.dag_file, encoding="utf-8") as handle:
            if handle.read(len(GENERATED_HEADER)) != GENERATED_HEADER:
                raise AirflowCompileError(
                    f"{files.dag_file} exists and `airflow create` did not write it: move it, or deploy "
                    "under another DAG id (--name)."
                )
    return _DeployTarget(deployment, files)


def _deploy(obj: Any, target: _DeployTarget, source: str, paused: bool) -> None:
    """Write the flow file and the DAG file into the DAGs folder, and wait until Airflow lists it."""
    from airflow_provider_metaflow.compiler.create import write_atomically
    from airflow_provider_metaflow.local_airflow import LocalAirflow
    from airflow_provider_metaflow.remote.api import AirflowApi
    from airflow_provider_metaflow.remote.deploy import copy_flow_file, register

    api = _api_call(AirflowApi, target.deployment)
    before = _api_call(api.dag_details, obj.dag_identity.dag_id)  # the version deployed now, if any
    copy_flow_file(inspect.getfile(type(obj.flow)), target.files)
    write_atomically(str(target.files.dag_file), source)
    home = target.deployment.local_home
    _api_call(
        register,
        api,
        obj.dag_identity.dag_id,
        target.files.dag_file,
        before,
        paused,
        LocalAirflow.at(home).reserialize if home else None,
        echo=obj.echo,
    )


def _write_deployer_attributes(obj: Any, path: str, dag_id: str, token: str) -> None:
    """What Metaflow's Deployer reads back after `create` (its deployer attribute file)."""
    import json

    content = {
        "name": dag_id,
        "flow_name": obj.flow.name,
        "metadata": obj.metadata.metadata_str(),
        "additional_info": {"production_token": token},
    }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(content, handle)


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


# --- The lifecycle of a deployed DAG, through the deployment's REST API ---------------------


def _deployment() -> Any:
    """The configured deployment (see airflow_provider_metaflow.remote.settings), not yet asked."""
    from airflow_provider_metaflow.remote.settings import KEYS, DeploymentNotConfigured, resolve_deployment

    try:
        return resolve_deployment(adapter.config_values(KEYS))
    except DeploymentNotConfigured as error:
        raise AirflowCompileError(str(error)) from None


def _api(obj: Any) -> Any:
    """The configured deployment's API."""
    from airflow_provider_metaflow.remote.api import AirflowApi

    return _api_call(AirflowApi, _deployment())


def _api_call(function: Any, *args: Any, **kwargs: Any) -> Any:
    from airflow_provider_metaflow.remote.api import AirflowApiFailed

    try:
        return function(*args, **kwargs)
    except AirflowApiFailed as error:
        raise AirflowCompileError(str(error)) from None


def _metaflow_run(obj: Any, airflow_run_id: str) -> str:
    from airflow_provider_metaflow.runtime.ids import metaflow_run_id

    return f"{obj.graph.name}/{metaflow_run_id(obj.dag_identity.dag_id, airflow_run_id)}"


def _deployed_api(obj: Any) -> Any:
    api = _api(obj)
    dag_id = obj.dag_identity.dag_id
    if not _api_call(api.has_dag, dag_id):
        raise AirflowCompileError(
            f"Airflow at {api.deployment.api_url} has no DAG {dag_id!r}. Deploy it with `airflow create` "
            "first (and pass the same --name)."
        )
    return api


def _given_parameters(obj: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The Parameter values given as options (already checked by their types), as conf values."""
    conf = {}
    for parameter in adapter.flow_parameters(obj.flow):
        if adapter.is_config(parameter):
            continue
        value = kwargs.get(parameter.name.replace("-", "_").lower())
        if value is not None and (converted := adapter.trigger_value(parameter, value)) is not None:
            conf[parameter.name] = converted
    return conf


def _trigger_run(
    obj: Any, conf: dict[str, Any], run_id_file: str | None, deployer_attribute_file: str | None
) -> None:
    """Start a DAG run of this flow's DAG with `conf`, and say which Airflow and Metaflow run it is."""
    import datetime
    import json
    import secrets

    api = _deployed_api(obj)
    # Chosen here, so the Metaflow run id (derived from it) is known before the run exists.
    now = datetime.datetime.now(datetime.UTC)
    run_id = f"metaflow__{now:%Y-%m-%dT%H:%M:%S}_{secrets.token_hex(4)}"
    run = _api_call(api.trigger, obj.dag_identity.dag_id, run_id, conf)
    pathspec = _metaflow_run(obj, run.run_id)
    if run_id_file:
        with open(run_id_file, "w", encoding="utf-8") as handle:
            handle.write(pathspec.split("/", 1)[1])
    if deployer_attribute_file:
        attributes = {"metadata": obj.metadata.metadata_str(), "pathspec": pathspec, "name": run.run_id}
        with open(deployer_attribute_file, "w", encoding="utf-8") as handle:
            json.dump(attributes, handle)
    obj.echo_always(
        f"Triggered DAG {obj.dag_identity.dag_id}: Airflow run {run.run_id}, Metaflow run {pathspec}."
    )


_RUN_ID_FILE = click.option("--run-id-file", default=None, help="Write the Metaflow run's id to this file.")
_DEPLOYER_ATTRIBUTE_FILE = click.option(
    "--deployer-attribute-file",
    default=None,
    hidden=True,
    help="Write the run's pathspec and Airflow run id here (Metaflow's Deployer API).",
)


@adapter.add_flow_parameters  # the flow's Parameters as options, checked by their types first
@airflow.command(help="Trigger a run of this flow's DAG on the configured Airflow deployment.")
@_RUN_ID_FILE
@_DEPLOYER_ATTRIBUTE_FILE
@click.pass_obj
def trigger(
    obj: Any, run_id_file: str | None = None, deployer_attribute_file: str | None = None, **kwargs: Any
) -> None:
    _trigger_run(obj, _given_parameters(obj, kwargs), run_id_file, deployer_attribute_file)


@adapter.add_flow_parameters
@airflow.command(
    help="Resume a Metaflow run of this flow's DAG in a new DAG run: the origin run's finished tasks "
    "are cloned, not run again; its failed ones, or --step-to-rerun and every step after it, run "
    "again. The origin run's Parameters apply unless given here."
)
@click.option(
    "--origin-run-id", required=True, help="The Metaflow run to resume (airflow-..., as `trigger` prints it)."
)
@click.option(
    "--step-to-rerun",
    default=None,
    help="Run this step and every step after it again, even where the origin run finished them.",
)
@_RUN_ID_FILE
@_DEPLOYER_ATTRIBUTE_FILE
@click.pass_obj
def resume(
    obj: Any,
    origin_run_id: str,
    step_to_rerun: str | None = None,
    run_id_file: str | None = None,
    deployer_attribute_file: str | None = None,
    **kwargs: Any,
) -> None:
    from airflow_provider_metaflow.runtime.ids import RUN_ID_PREFIX

    from .contract import RESUME_CONF_KEY, ResumeRequest

    if not origin_run_id.startswith(RUN_ID_PREFIX):
        raise AirflowCompileError(
            f"Run {origin_run_id} was not made by Airflow (those ids start with {RUN_ID_PREFIX!r}): resume "
            f"it where it ran, with `python {os.path.basename(inspect.getfile(type(obj.flow)))} resume "
            f"--origin-run-id {origin_run_id}`."
        )
    steps = [node.name for node in obj.graph]
    if step_to_rerun is not None and step_to_rerun not in steps:
        raise AirflowCompileError(
            f"--step-to-rerun {step_to_rerun!r} is not a step of {obj.graph.name}; its steps: "
            f"{', '.join(steps)}."
        )
    origin = adapter.run_parameter_values(obj.graph.name, origin_run_id)
    if origin is None:
        raise AirflowCompileError(
            f"Metaflow has no run {obj.graph.name}/{origin_run_id} (or it never stored its Parameters). "
            "Check the id, and that this machine's Metaflow config reads the deployment's metadata."
        )
    conf = {**origin, **_given_parameters(obj, kwargs)}
    rerun = adapter.steps_after(obj.graph, step_to_rerun) if step_to_rerun else []
    conf[RESUME_CONF_KEY] = ResumeRequest(origin_run_id, rerun).to_conf()
    _trigger_run(obj, conf, run_id_file, deployer_attribute_file)


@airflow.command(help="Show the state of one run of this flow's DAG.")
@click.option(
    "--run-id", "run_id", required=True, help="The Airflow run id (`trigger` and `list-runs` print it)."
)
@click.pass_obj
def status(obj: Any, run_id: str) -> None:
    run = _api_call(_deployed_api(obj).run, obj.dag_identity.dag_id, run_id)
    obj.echo_always(f"{run.run_id} {run.state} {_metaflow_run(obj, run.run_id)}", err=False)


@airflow.command("list-runs", help="List the runs of this flow's DAG, newest first.")
@click.option("--limit", default=20, show_default=True, type=int, help="How many runs to list.")
@click.pass_obj
def list_runs(obj: Any, limit: int = 20) -> None:
    runs = _api_call(_deployed_api(obj).runs, obj.dag_identity.dag_id, limit)
    for run in runs:
        line = f"{run.run_id} {run.state} {run.start_date or '-'} {_metaflow_run(obj, run.run_id)}"
        obj.echo_always(line, err=False)
    if not runs:
        obj.echo(f"DAG *{obj.dag_identity.dag_id}* has no runs.")


@airflow.command(help="Stop a run of this flow's DAG, and every step process or pod it started.")
@click.option("--run-id", "run_id", required=True, help="The Airflow run id.")
@click.pass_obj
def terminate(obj: Any, run_id: str) -> None:
    run = _api_call(_deployed_api(obj).terminate, obj.dag_identity.dag_id, run_id)
    obj.echo(
        f"Run *{run.run_id}* of DAG *{obj.dag_identity.dag_id}* is {run.state}; its tasks are being stopped."
    )


@airflow.command(help="Delete this flow's DAG from the Airflow deployment, and its DAG file.")
@click.pass_obj
def delete(obj: Any) -> None:
    api = _deployed_api(obj)
    dag_id = obj.dag_identity.dag_id
    removed = _remove_dag_file(api, dag_id)
    _api_call(api.delete_dag, dag_id)
    obj.echo(f"Deleted DAG *{dag_id}*" + (f" and its file {removed}." if removed else "."))


def _remove_dag_file(api: Any, dag_id: str) -> str | None:
    """The DAG's file, removed first (else the dag-processor adds the DAG again), when it is in
    the deployment's DAGs folder on this machine and `airflow create` wrote it."""
    from airflow_provider_metaflow.compiler.render import GENERATED_HEADER

    fileloc = _api_call(api.dag_file, dag_id)
    folder = api.deployment.dags_folder
    if not (fileloc and folder and os.path.isfile(fileloc)):
        return None
    if os.path.commonpath([os.path.abspath(fileloc), os.path.abspath(folder)]) != os.path.abspath(folder):
        return None
    with open(fileloc, encoding="utf-8") as handle:
        if not handle.read(len(GENERATED_HEADER)) == GENERATED_HEADER:
            return None
    from airflow_provider_metaflow.remote.deploy import remove_flow_copy

    os.unlink(fileloc)
    remove_flow_copy(fileloc)
    return str(fileloc)
