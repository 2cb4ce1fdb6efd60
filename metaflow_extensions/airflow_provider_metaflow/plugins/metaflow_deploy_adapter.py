"""Every Metaflow internal that `airflow create` uses, in one module.

Metaflow's public API does not cover what deploying to a scheduler needs: a flow's decorators
and resolved Configs, deploy-time Parameter defaults, @trigger specs, the @kubernetes settings
of the author's configuration, the code package, production tokens and files kept beside the
runs. Metaflow's own schedulers read the same internals; keeping them here (and the run-time
ones in metaflow_adapter.py) means a Metaflow upgrade touches the adapters only. The ruff rule
banning Metaflow's internal modules names these files as its only exceptions.

This module is the compiler's MetaflowView (`airflow_provider_metaflow.compiler.metaflow_view`):
`airflow create` passes it to the compiler, which imports nothing of the extension.
Imported only in a Metaflow process at `create`. Nothing but the standard library at module
level: Metaflow loads on first use, so importing this module never runs Metaflow's plugin
loading (which imports the extension's CLI, which imports this module).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any


def __getattr__(name: str) -> Any:
    """`click`: Metaflow's vendored click, which its CLI groups are made with, on first use."""
    if name == "click":
        from metaflow._vendor import click

        return click
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- A flow ------------------------------------------------------------------------------


def flow_decorators(flow: Any) -> Iterator[Any]:
    """The flow-level decorators (@schedule, @project, ...) of a FlowSpec instance."""
    from metaflow.flowspec import FlowStateItems

    for decorators in flow._flow_state[FlowStateItems.FLOW_DECORATORS].values():
        yield from decorators


def project_identity() -> tuple[str | None, str | None]:
    """(@project's name, its branch) for the flow of this command, or (None, None)."""
    from metaflow import current

    project = current.get("project_name")
    return (str(project), str(current.get("branch_name"))) if project else (None, None)


def project_flow_name() -> str | None:
    """@project's `project.branch.Flow` name of this command's flow, or None without @project."""
    from metaflow import current

    name = current.get("project_flow_name") if current.get("project_name") else None
    return str(name) if name else None


def project_options(flow: Any) -> tuple[str, ...]:
    """@project's top-level options (`--branch NAME`, `--production`) as given to this command."""
    argv: list[str] = []
    for deco in flow_decorators(flow):
        if deco.name != "project":
            continue
        for option, value in deco.get_top_level_options():
            if value is True:
                argv.append(f"--{option}")
            elif value not in (None, False):
                argv += [f"--{option}", str(value)]
    return tuple(argv)


def flow_configs(flow: Any) -> dict[str, Any]:
    """Config values as Metaflow resolved them for this command, in Metaflow's own key order."""
    from metaflow.flowspec import FlowStateItems

    return dict(flow._flow_state[FlowStateItems.CONFIGS] or {})


def flow_parameters(flow: Any) -> list[Any]:
    """The flow's Parameters, Configs left out."""
    return [parameter for _name, parameter in flow._get_parameters() if not is_config(parameter)]


def is_config(parameter: Any) -> bool:
    return bool(getattr(parameter, "IS_CONFIG_PARAMETER", False))


def is_json_parameter(parameter: Any) -> bool:
    from metaflow import JSONType

    return bool(parameter.kwargs.get("type") == JSONType)


def is_include_file(parameter: Any) -> bool:
    from metaflow import IncludeFile

    return isinstance(parameter, IncludeFile)


def deploy_time_value(value: Any) -> Any:
    """A Parameter default as Metaflow evaluates it at deploy time (functions called, files read)."""
    from metaflow.parameters import deploy_time_eval

    return deploy_time_eval(value)


def trigger_specs(decorator: Any) -> list[Any]:
    """The triggers of a @trigger or @trigger_on_finish, deploy-time values evaluated."""
    decorator.format_deploytime_value()
    return list(decorator.triggers)


# --- The author's configuration -------------------------------------------------------------

# KubernetesDefaults field -> Metaflow configuration name (METAFLOW_<name>).
_KUBERNETES_CONFIG = {
    "namespace": "KUBERNETES_NAMESPACE",
    "service_account": "KUBERNETES_SERVICE_ACCOUNT",
    "gpu_vendor": "KUBERNETES_GPU_VENDOR",
    "node_selector": "KUBERNETES_NODE_SELECTOR",
    "tolerations": "KUBERNETES_TOLERATIONS",
    "persistent_volume_claims": "KUBERNETES_PERSISTENT_VOLUME_CLAIMS",
    "image_pull_policy": "KUBERNETES_IMAGE_PULL_POLICY",
    "image_pull_secrets": "KUBERNETES_IMAGE_PULL_SECRETS",
    "cpu": "KUBERNETES_CPU",
    "memory": "KUBERNETES_MEMORY",
    "disk": "KUBERNETES_DISK",
    "labels": "KUBERNETES_LABELS",
    "annotations": "KUBERNETES_ANNOTATIONS",
    "image": "KUBERNETES_CONTAINER_IMAGE",
    "registry": "KUBERNETES_CONTAINER_REGISTRY",
    "shared_memory": "KUBERNETES_SHARED_MEMORY",
    "port": "KUBERNETES_PORT",
    "qos": "KUBERNETES_QOS",
    "secrets": "KUBERNETES_SECRETS",
    "run_time_limit": "DEFAULT_RUNTIME_LIMIT",
    "startup_timeout_seconds": "AIRFLOW_KUBERNETES_STARTUP_TIMEOUT_SECONDS",
}


def kubernetes_config() -> dict[str, Any]:
    """The author's @kubernetes configuration (environment, then ~/.metaflowconfig), by the
    names of the compiler's KubernetesDefaults."""
    from metaflow import metaflow_config

    return {field: getattr(metaflow_config, name) for field, name in _KUBERNETES_CONFIG.items()}


def image_registry(image: str) -> str | None:
    """The registry an image reference names, as Metaflow's @kubernetes reads it (None: none)."""
    from metaflow.plugins.aws.aws_utils import get_docker_registry

    registry = get_docker_registry(image)
    return str(registry) if registry else None


def username() -> str | None:
    """Who deploys: Metaflow's own notion of the user."""
    from metaflow.util import get_username

    user = get_username()
    return str(user) if user else None


def validate_tags(tags: Sequence[str]) -> None:
    """Metaflow's own tag rules, as its other schedulers check them (raises MetaflowException)."""
    from metaflow.tagging_util import validate_tags as check

    check(list(tags))


# --- What a deployment keeps in the datastore ---------------------------------------------


def upload_code_package(obj: Any) -> tuple[str, str, str]:
    """Package the flow's code with Metaflow's own packaging and store it in the flow's datastore
    (content-addressed: an unchanged package is not uploaded again). Returns (url, sha, the
    package's metadata as JSON text), as Metaflow's other schedulers record them."""
    from metaflow.package import MetaflowPackage

    package = MetaflowPackage(obj.flow, obj.environment, obj.echo, suffixes=obj.package_suffixes)
    url, sha = obj.flow_datastore.save_data([package.blob], len_hint=1)[0]
    return str(url), str(sha), str(package.package_metadata)


def read_datastore_file(flow_datastore: Any, path: str) -> bytes | None:
    """A small file kept at `path` under the datastore's root, outside any run, or None."""
    storage = flow_datastore._storage_impl
    if not storage.is_file([path])[0]:
        return None
    with storage.load_bytes([path]) as loaded:
        for _key, local_path, _meta in loaded:
            if local_path is not None:
                with open(local_path, "rb") as handle:
                    return handle.read()
    return None


def write_datastore_file(flow_datastore: Any, path: str, content: bytes) -> None:
    flow_datastore._storage_impl.save_bytes([(path, io.BytesIO(content))], overwrite=True)


def load_production_token(token_prefix: str) -> str | None:
    """The token cached on this machine for a deployment (Metaflow's METAFLOW_HOME cache)."""
    from metaflow.plugins.aws.step_functions.production_token import load_token

    token = load_token(token_prefix)
    return str(token) if token else None


def new_production_token(token_prefix: str, previous: str | None) -> str | None:
    """A new token; None when the previous one was given by hand (Metaflow's rule)."""
    from metaflow.plugins.aws.step_functions.production_token import new_token

    token = new_token(token_prefix, previous)
    return str(token) if token else None


def store_production_token(token_prefix: str, token: str) -> None:
    from metaflow.plugins.aws.step_functions.production_token import store_token

    store_token(token_prefix, token)


# --- The lifecycle commands ----------------------------------------------------------------


def config_values(keys: Sequence[str]) -> dict[str, str | None]:
    """Metaflow config values (config file or METAFLOW_<KEY> in the environment), by key."""
    from metaflow.metaflow_config import from_conf

    return {key: from_conf(key) for key in keys}


def add_flow_parameters(command: Any) -> Any:
    """Give a CLI command the flow's Parameters as options, as Metaflow's schedulers' `trigger`."""
    from metaflow.parameters import add_custom_parameters

    return add_custom_parameters(deploy_mode=False)(command)


def run_parameter_values(flow_name: str, run_id: str) -> dict[str, Any] | None:
    """The Parameter values a run stored (its `_parameters` task), as a DAG run's conf holds
    them; None when Metaflow has no such run."""
    from metaflow import Run
    from metaflow.exception import MetaflowNotFound

    try:
        task = Run(f"{flow_name}/{run_id}", _namespace_check=False)["_parameters"].task
    except (MetaflowNotFound, KeyError):
        return None
    if task is None:
        return None
    values = {}
    for artifact in task:
        if artifact.id.startswith("_") or artifact.id == "name":
            continue
        value = artifact.data
        if isinstance(value, str | int | float | bool | list | dict):
            values[artifact.id] = value
    return values


def steps_after(graph: Any, step: str) -> list[str]:
    """`step` and every step reachable from it: what Metaflow's `resume STEP` runs again."""
    found, todo = [], [step]
    while todo:
        name = todo.pop()
        if name not in found:
            found.append(name)
            todo += list(graph[name].out_funcs)
    return sorted(found)


def trigger_value(parameter: Any, value: Any) -> Any:
    """A Parameter value, as click read it, as the DAG run's conf holds it (JSON values); None
    for a value computed when the DAG was created (the DAG's own default then applies)."""
    from metaflow.includefile import IncludedFile
    from metaflow.parameters import DelayedEvaluationParameter

    if isinstance(value, DelayedEvaluationParameter | IncludedFile):
        return None
    if is_json_parameter(parameter) and isinstance(value, str):
        import json

        return json.loads(value)
    return value
