"""Every Metaflow internal that a run on Airflow uses, in one module.

Metaflow's public API (the client, FlowSpec, decorators' hooks) does not cover what a scheduler
integration needs at run time: running `init` for a run, reading a task's transition or foreach
width from the datastore, saving task logs, moving a pod's local metadata, fetching a code
package. Metaflow's own schedulers use the same internals; keeping them here (and the
deploy-time ones in metaflow_deploy_adapter.py) means a Metaflow upgrade touches the adapters
only. The ruff rule banning Metaflow's internal modules names these files as its only exceptions.

Used by the internal step decorator (in every step process), the probe (a worker-side child
process) and a pod's bootstrap, which loads this file from its source before the flow's code
package, and with it this extension, is there. So the module imports nothing of the extension,
and nothing but the standard library at module level: Metaflow loads on first use (importing
it here would run Metaflow's plugin loading, which imports the step decorator, which imports
this module).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# --- A task, inside its own step process ------------------------------------------------


def start_step(graph: Any) -> str:
    """The flow's start step: `start`, or the step marked as start."""
    return str(getattr(graph, "start_step", None) or "start")


def task_finished_in_datastore(flow_datastore: Any, run_id: str, step: str, task_id: str) -> bool:
    """True when the task's latest attempt finished (a retried start must not redo `init`)."""
    return task_datastore(flow_datastore, run_id, step, task_id) is not None


def flow_parameter_names(flow: Any) -> list[str]:
    """The names of the flow's Parameters, Configs left out."""
    return [
        parameter.name
        for _name, parameter in flow._get_parameters()
        if not getattr(parameter, "IS_CONFIG_PARAMETER", False)
    ]


# Parameter types whose reading of a value has no side effects and needs no context.
_PURE_TYPES = frozenset({"integer", "float", "boolean", "JSON", "text"})


def parameter_value_problems(flow: Any, values: Mapping[str, str]) -> list[str]:
    """Each value that the flow's Parameter would refuse, as Metaflow's command line reads it
    (the Parameter's click type: int, float, bool, JSONType, ...), with the reason."""
    from metaflow._vendor import click

    types = {parameter.name: parameter.kwargs.get("type", str) for _name, parameter in flow._get_parameters()}
    problems = []
    for name, value in values.items():
        if name not in types:
            continue
        kind = click.types.convert_type(types[name])
        if kind.name not in _PURE_TYPES:
            continue  # IncludeFile and custom types may read files or need Metaflow's context
        try:
            kind.convert(value, None, None)
        except click.exceptions.BadParameter as error:
            problems.append(
                f"Parameter {name!r} is of type {kind.name}, but the run gives {value!r}: {error.message}"
            )
    return problems


def init_arguments(run_id: str, task_id: str, tags: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Arguments of Metaflow's `init`, which stores a run's Parameters in RUN/_parameters/TASK for
    `start` to read. Call with checked names only: each becomes an option."""
    argv = ["--run-id", run_id, "--task-id", task_id]
    for tag in tags:
        argv += ["--tag", tag]
    for name, value in values.items():
        argv.append(f"--{name}={value}")  # one token: a value may start with "-"
    return argv


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
    from metaflow.mflog import RUNTIME_LOG_SOURCE

    _flow, run_id, step, task_id = pathspec.split("/")
    datastore = flow_datastore.get_task_datastore(run_id, step, task_id, attempt=attempt, mode="w")
    decorated = {name: b"".join(_decorated(content)) for name, content in streams.items()}
    datastore.save_logs(RUNTIME_LOG_SOURCE, decorated)


def _decorated(content: bytes) -> Iterable[bytes]:
    from metaflow.mflog import RUNTIME_LOG_SOURCE, mflog

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
    from metaflow.datastore import FlowDataStore
    from metaflow.metaflow_config import DEFAULT_DATASTORE
    from metaflow.plugins import DATASTORES

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
    from metaflow.datastore.exceptions import DataException

    try:
        return flow_datastore.get_task_datastore(run_id, step, task_id, mode="r")
    except DataException:
        return None


def task_artifact(task_datastore: Any, name: str) -> Any:
    """An artifact of a finished task's datastore, as `Task(...)[name].data` reads it. KeyError
    when the task has none of that name. (In a step process the flow object no longer holds its
    artifacts once Metaflow persisted them, so read them back from the task's own datastore.)"""
    if name not in task_datastore:
        raise KeyError(name)
    return task_datastore[name]


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
    from metaflow.datastore.exceptions import DataException

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


# --- Blobs in the flow's datastore: code packages and what a pod must not carry in its spec -----


def store_blob(flow_datastore: Any, blob: bytes) -> str:
    """Store bytes in the flow's content-addressed store; returns the key (their SHA-1)."""
    _url, sha = flow_datastore.save_data([blob], len_hint=1)[0]
    return str(sha)


def load_blob(flow_datastore: Any, sha: str) -> bytes:
    """Bytes stored under `sha`, checked against it."""
    for _key, blob in flow_datastore.load_data([sha], force_raw=True):
        if hashlib.sha1(blob).hexdigest() != sha:
            raise ValueError(f"The blob {sha} in the datastore does not hash to its key: not using it.")
        return bytes(blob)
    raise ValueError(f"No blob {sha} in the flow's datastore.")


def unpack_code_package(archive: str, metadata: str, dest_dir: str, env: Mapping[str, str]) -> dict[str, str]:
    """Unpack a code package with Metaflow's own extract commands; returns `env` with the
    variables Metaflow sets after extraction (PYTHONPATH and the like)."""
    import subprocess

    from metaflow.package import MetaflowPackage

    for command in MetaflowPackage.get_extract_commands(metadata, archive, dest_dir=dest_dir):
        subprocess.run(command, shell=isinstance(command, str), check=True)  # noqa: S602 - Metaflow's own
    unpacked = dict(env)
    for name, value in MetaflowPackage.get_post_extract_env_vars(metadata, dest_dir=dest_dir).items():
        if name.endswith(":"):
            unpacked[name[:-1]] = value
        else:
            unpacked[name] = value + (":" + unpacked[name] if unpacked.get(name) else "")
    return unpacked
