"""Every use of Metaflow internals in this provider, in one module.

Metaflow's public API (the client, FlowSpec, decorators' hooks) does not cover what a scheduler
integration needs: reading a task's transition or foreach width from the datastore, running
`init` for a run, saving task logs, reading a flow's decorators and Configs at deploy time.
Metaflow's own schedulers use the same internals; keeping them here means a Metaflow upgrade
touches one file.

Imported only by code that runs in a Metaflow process: the internal step decorator, the
compiler at `airflow create`, and probes run as child processes. Never by a DAG file or by the
Airflow side of a local step.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from metaflow.datastore import FlowDataStore
from metaflow.datastore.exceptions import DataException
from metaflow.flowspec import FlowStateItems
from metaflow.metaflow_config import DEFAULT_DATASTORE
from metaflow.mflog import RUNTIME_LOG_SOURCE, mflog
from metaflow.plugins import DATASTORES

from .contract import PARAMETERS_STEP, PARAMETERS_TASK_ID

# --- A flow, at deploy time -------------------------------------------------------------


def flow_decorators(flow: Any) -> Iterator[Any]:
    """The flow-level decorators (@schedule, @project, ...) of a FlowSpec instance."""
    for decorators in flow._flow_state[FlowStateItems.FLOW_DECORATORS].values():
        yield from decorators


def project_identity() -> tuple[str | None, str | None]:
    """(@project's name, its branch) for the flow of this command, or (None, None)."""
    from metaflow import current

    project = current.get("project_name")
    return (str(project), str(current.get("branch_name"))) if project else (None, None)


def flow_configs(flow: Any) -> dict[str, Any]:
    """Config values as Metaflow resolved them for this command, in Metaflow's own key order."""
    return dict(flow._flow_state[FlowStateItems.CONFIGS] or {})


def flow_parameters(flow: Any) -> list[Any]:
    """The flow's Parameter objects (Configs included; they carry IS_CONFIG_PARAMETER)."""
    return [parameter for _name, parameter in flow._get_parameters()]


def upload_code_package(obj: Any) -> tuple[str, str, str]:
    """Package the flow's code with Metaflow's own packaging and store it in the flow's datastore
    (content-addressed: an unchanged package is not uploaded again). Returns (url, sha, the
    package's metadata as JSON text), as Metaflow's other schedulers record them."""
    from metaflow.package import MetaflowPackage

    package = MetaflowPackage(obj.flow, obj.environment, obj.echo, suffixes=obj.package_suffixes)
    url, sha = obj.flow_datastore.save_data([package.blob], len_hint=1)[0]
    return str(url), str(sha), str(package.package_metadata)


def storage_of(flow_datastore: Any) -> Any:
    """The storage implementation behind a FlowDataStore (for files outside any run)."""
    return flow_datastore._storage_impl


# --- A task, inside its own step process ------------------------------------------------


def start_step(graph: Any) -> str:
    """The flow's start step: `start`, or the step marked as start."""
    return str(getattr(graph, "start_step", None) or "start")


def parameters_stored(flow_datastore: Any, run_id: str) -> bool:
    """True when `init` already stored this run's Parameters (a retried start must not redo it)."""
    return task_datastore(flow_datastore, run_id, PARAMETERS_STEP, PARAMETERS_TASK_ID) is not None


def run_init(init_args: Sequence[str]) -> None:
    """Run Metaflow's own `init` command in this process, with the current command's state.

    Called from a step decorator's step_init, inside the top-level Metaflow command, before
    the `step` command loads its inputs: so `start` reads the Parameters `init` just stored,
    and the run costs no extra process.
    """
    from metaflow._vendor import click
    from metaflow.cli_components.init_cmd import init

    parent = click.get_current_context()
    if not hasattr(parent.obj, "package"):  # set by Metaflow only after decorators initialise
        parent.obj.package = None
    with init.make_context("init", list(init_args), parent=parent) as context:
        init.invoke(context)


def task_outcome(flow: Any, graph: Any, step_name: str) -> tuple[list[str], int | None]:
    """(the steps a finished task chose, its foreach width) from the flow object it ran."""
    transition = getattr(flow, "_transition", None)
    next_steps = [str(step) for step in transition[0]] if transition else []
    width = None
    if graph[step_name].type == "foreach":
        width = int(flow._foreach_num_splits)
    return next_steps, width


def mark_failed(flow: Any, error: BaseException) -> None:
    """Make the attempt Metaflow is about to persist a failure caused by `error`, as Metaflow
    records an exception from user code (an error that is not an Exception skips that path)."""
    from metaflow.exception import MetaflowExceptionWrapper

    flow._task_ok = False
    flow._exception = MetaflowExceptionWrapper(error)


def save_task_logs(flow_datastore: Any, pathspec: str, attempt: int, streams: Mapping[str, bytes]) -> None:
    """Store output as the task's Metaflow logs, where `Task(...).stdout` reads them."""
    _flow, run_id, step, task_id = pathspec.split("/")
    datastore = flow_datastore.get_task_datastore(run_id, step, task_id, attempt=attempt, mode="w")
    decorated = {name: b"".join(_decorated(content)) for name, content in streams.items()}
    datastore.save_logs(RUNTIME_LOG_SOURCE, decorated)


def _decorated(content: bytes) -> Iterable[bytes]:
    for line in content.splitlines():
        yield bytes(mflog.decorate(RUNTIME_LOG_SOURCE, line)) + b"\n"


def register_task_metadata(
    metadata: Any, run_id: str, step: str, task_id: str, attempt: int, values: Mapping[str, str]
) -> None:
    from metaflow.metadata_provider import MetaDatum

    entries = [
        MetaDatum(field=name, value=value, type=name, tags=[f"attempt_id:{attempt}"])
        for name, value in values.items()
    ]
    metadata.register_metadata(run_id, step, task_id, entries)


def sync_metadata_to_datastore(metadata: Any, task_datastore: Any) -> None:
    """In a pod with local metadata: copy the task's metadata into the datastore, where the
    worker picks it up (Metaflow's own bridge for @kubernetes and @batch tasks)."""
    if metadata.TYPE != "local":
        return
    from metaflow.metadata_provider.util import sync_local_metadata_to_datastore
    from metaflow.metaflow_config import DATASTORE_LOCAL_DIR

    sync_local_metadata_to_datastore(DATASTORE_LOCAL_DIR, task_datastore)


# --- A run, from a probe process ---------------------------------------------------------

# Where a pod finds the datastore and the metadata service: Metaflow's own list for the pods
# it launches, without credentials (those reach a pod as Kubernetes secrets or its service
# account, never as values in the pod spec).
_POD_SETTINGS = (
    "DEFAULT_DATASTORE",
    "DEFAULT_METADATA",
    "SERVICE_INTERNAL_URL",
    "DATASTORE_SYSROOT_S3",
    "DATATOOLS_S3ROOT",
    "S3_ENDPOINT_URL",
    "CARD_S3ROOT",
    "DATASTORE_SYSROOT_AZURE",
    "AZURE_STORAGE_BLOB_SERVICE_ENDPOINT",
    "CARD_AZUREROOT",
    "DATASTORE_SYSROOT_GS",
    "CARD_GSROOT",
    "DEFAULT_AWS_CLIENT_PROVIDER",
    "DEFAULT_GCP_CLIENT_PROVIDER",
    "DEFAULT_SECRETS_BACKEND_TYPE",
)


def pod_settings() -> dict[str, str]:
    """The Metaflow settings of this process that a step's pod needs, as environment variables."""
    from metaflow import metaflow_config

    settings = {}
    for name in _POD_SETTINGS:
        value = getattr(metaflow_config, name, None)
        if value not in (None, ""):
            target = "SERVICE_URL" if name == "SERVICE_INTERNAL_URL" else name
            settings[f"METAFLOW_{target}"] = str(value)
    return settings


def sync_metadata_from_datastore(flow_datastore: Any, run_id: str, step: str, task_id: str) -> None:
    """On the worker, with local metadata: copy what a pod saved into this machine's metadata."""
    from metaflow.metadata_provider.util import sync_local_metadata_from_datastore
    from metaflow.metaflow_config import DATASTORE_LOCAL_DIR, DEFAULT_METADATA

    if DEFAULT_METADATA != "local":
        return
    datastore = flow_datastore.get_task_datastore(run_id, step, task_id, mode="r", allow_not_done=True)
    if datastore.has_metadata("local_metadata", add_attempt=True):
        sync_local_metadata_from_datastore(DATASTORE_LOCAL_DIR, datastore)


def configured_flow_datastore(flow_name: str, flow_dir: str) -> Any:
    """The flow's datastore as this process's Metaflow config names it. A local datastore
    without a configured root is found the way Metaflow finds it: upwards from the flow's folder."""
    storage = next((impl for impl in DATASTORES if impl.TYPE == DEFAULT_DATASTORE), None)
    if storage is None:
        known = ", ".join(impl.TYPE for impl in DATASTORES)
        raise ValueError(f"METAFLOW_DEFAULT_DATASTORE={DEFAULT_DATASTORE!r} is not one of {known}.")
    previous = os.getcwd()
    os.chdir(flow_dir)
    try:
        root = storage.get_datastore_root_from_config(lambda *args, **kwargs: None)
    finally:
        os.chdir(previous)
    if root is None:
        raise ValueError(
            f"No datastore root is configured for the {DEFAULT_DATASTORE!r} datastore: set "
            f"METAFLOW_DATASTORE_SYSROOT_{DEFAULT_DATASTORE.upper()}."
        )
    return FlowDataStore(flow_name, None, storage_impl=storage, ds_root=root)


def task_datastore(flow_datastore: Any, run_id: str, step: str, task_id: str) -> Any | None:
    """The task's latest attempt if that attempt finished (DONE written), else None."""
    try:
        return flow_datastore.get_task_datastore(run_id, step, task_id, mode="r")
    except DataException:
        return None


@dataclass(frozen=True)
class FinishedTask:
    """A task's latest attempt as the datastore records it."""

    attempt: int | None  # None: no attempt started
    done: bool  # that attempt wrote its DONE marker
    ok: bool  # ... and succeeded
    next_steps: tuple[str, ...] = ()
    foreach_num_splits: int | None = None


def finished_task(flow_datastore: Any, run_id: str, step: str, task_id: str) -> FinishedTask:
    """The latest attempt of a task, finished or not."""
    try:
        datastore = flow_datastore.get_task_datastore(run_id, step, task_id, mode="r", allow_not_done=True)
    except DataException:
        return FinishedTask(attempt=None, done=False, ok=False)
    attempt = datastore.attempt
    if attempt is None:
        return FinishedTask(attempt=None, done=False, ok=False)
    if not datastore.has_metadata(datastore.METADATA_DONE_SUFFIX):
        return FinishedTask(attempt=attempt, done=False, ok=False)
    ok = bool(datastore["_task_ok"]) if "_task_ok" in datastore else False
    transition = datastore["_transition"] if ok and "_transition" in datastore else None
    width = datastore["_foreach_num_splits"] if ok and "_foreach_num_splits" in datastore else None
    return FinishedTask(
        attempt=attempt,
        done=True,
        ok=ok,
        next_steps=tuple(transition[0]) if transition else (),
        foreach_num_splits=int(width) if width is not None else None,
    )
