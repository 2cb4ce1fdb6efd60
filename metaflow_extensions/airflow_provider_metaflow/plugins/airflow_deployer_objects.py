"""The deployed flow and triggered run objects of the Airflow deployer (airflow_deployer.py), with
the contract of Metaflow's Argo Workflows deployer objects.

Commands that change something (trigger, resume, terminate, delete) run the `airflow` CLI group
in a subprocess, as Metaflow's deployers do; questions (a run's status, finding a deployment)
ask the deployment's REST API from this process, with the deployer's environment.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from metaflow.exception import MetaflowException
from metaflow.runner.deployer import DeployedFlow, Deployer, TriggeredRun, generate_fake_flow_file_contents
from metaflow.runner.utils import get_lower_level_group, handle_timeout, temporary_fifo

# A DAG run's state, as Metaflow's deployers report a run's status.
STATUS = {"queued": "Pending", "running": "Running", "success": "Succeeded", "failed": "Failed"}
RUNNING = ("Pending", "Running")
# A DAG param's JSON-schema type, as the Parameter type Metaflow's stand-in flow declares.
_PARAMETER_TYPES = {"integer": "int", "number": "float", "boolean": "bool", "string": "str"}


def _api(deployer: Any) -> Any:
    """The deployment's REST API, configured from the deployer's environment over Metaflow's config."""
    from airflow_provider_metaflow.remote.api import AirflowApi
    from airflow_provider_metaflow.remote.settings import KEYS, resolve_deployment

    from . import metaflow_deploy_adapter as adapter

    configured = adapter.config_values(KEYS)
    environment = getattr(deployer, "env_vars", None) or os.environ
    values = {key: environment.get(f"METAFLOW_{key}") or configured[key] for key in KEYS}
    return AirflowApi(resolve_deployment(values))


def _run_command(deployer: Any, command_name: str, with_attributes: bool, **kwargs: Any) -> str:
    """Run `python flow.py ... airflow ... COMMAND` as Metaflow's deployers do; the attribute file's
    content when `with_attributes` (else ""). Raises when the command fails."""
    group = get_lower_level_group(
        deployer.api, deployer.top_level_kwargs, deployer.TYPE, deployer.deployer_kwargs
    )
    attribute_file: str
    attribute_fd: int
    with temporary_fifo() as (attribute_file, attribute_fd):
        if with_attributes:
            kwargs["deployer_attribute_file"] = attribute_file
        command = getattr(group, command_name)(**kwargs)
        pid = deployer.spm.run_command(
            [sys.executable, *command],
            env=deployer.env_vars,
            cwd=deployer.cwd,
            show_output=deployer.show_output,
        )
        command_obj = deployer.spm.get(pid)
        content = ""
        if with_attributes:
            content = handle_timeout(attribute_fd, command_obj, deployer.file_read_timeout)
        command_obj.sync_wait()
        status = command_obj.process.returncode
        if status != 0:
            raise MetaflowException(
                f"`airflow {command_name}` of {deployer.flow_file} failed (exit {status})."
            )
        return str(content)


class AirflowTriggeredRun(TriggeredRun):
    """One DAG run: `.run` is its Metaflow Run (None until `start` has begun), `.status` follows
    the DAG run ("Pending", "Running", "Succeeded", "Failed")."""

    @property
    def status(self) -> str | None:
        state = _api(self.deployer).run(self.deployer.name, self.name).state
        status = STATUS.get(state, state)
        return "Pending" if status == "Running" and self.run is None else status

    @property
    def is_running(self) -> bool:
        return self.status in RUNNING

    def wait_for_completion(self, check_interval: int = 5, timeout: int | None = None) -> None:
        """Wait until the DAG run has finished; TimeoutError after `timeout` seconds."""
        started = time.monotonic()
        while self.is_running:
            if timeout is not None and time.monotonic() - started > timeout:
                raise TimeoutError(f"DAG run {self.name} did not finish within {timeout} s.")
            time.sleep(check_interval)

    def terminate(self, **kwargs: Any) -> bool:
        """Stop the DAG run and every step process or pod it started."""
        try:
            _run_command(self.deployer, "terminate", False, run_id=self.name, **kwargs)
        except MetaflowException:
            return False
        return True


class AirflowDeployedFlow(DeployedFlow):
    """A DAG that `airflow create` deployed."""

    TYPE: ClassVar[str | None] = "airflow"

    @property
    def id(self) -> str:  # noqa: A003 - the name Metaflow's deployed flows use
        return str(self.deployer.name)

    @property
    def production_token(self) -> str | None:
        token = getattr(self.deployer, "additional_info", {}).get("production_token")
        if token:
            return str(token)
        from . import metaflow_adapter
        from .deployment import existing_token

        datastore = metaflow_adapter.configured_flow_datastore(self.deployer.flow_name, self.deployer.cwd)
        return existing_token(datastore, self.deployer.name)

    def trigger(self, **kwargs: Any) -> AirflowTriggeredRun:
        """A new DAG run, with the flow's Parameters as keyword arguments."""
        content = _run_command(self.deployer, "trigger", True, **kwargs)
        return AirflowTriggeredRun(deployer=self.deployer, content=content)

    def resume(self, **kwargs: Any) -> AirflowTriggeredRun:
        """A new DAG run that resumes `origin_run_id` (a Metaflow run id): its finished tasks are
        cloned, the failed ones, or `step_to_rerun` and what follows it, run again."""
        content = _run_command(self.deployer, "resume", True, **kwargs)
        return AirflowTriggeredRun(deployer=self.deployer, content=content)

    def delete(self, **kwargs: Any) -> bool:
        """Remove the DAG from Airflow, and its file from the DAGs folder."""
        try:
            _run_command(self.deployer, "delete", False, **kwargs)
        except MetaflowException:
            return False
        return True

    @classmethod
    def list_deployed_flows(cls, flow_name: str | None = None) -> Iterator[AirflowDeployedFlow]:
        """Every DAG `airflow create` deployed to the configured Airflow (of one flow, if named)."""
        from airflow_provider_metaflow.plan import DAG_TAG

        tag = f"{DAG_TAG}_flow:{flow_name}" if flow_name else DAG_TAG
        for dag_id in _api(None).dag_ids(tag):
            try:
                yield cls.from_deployment(dag_id)
            except MetaflowException:
                continue  # tagged by hand, not deployed by `create`

    @classmethod
    def from_deployment(cls, identifier: str, metadata: str | None = None) -> AirflowDeployedFlow:
        """The deployed flow whose DAG id is `identifier` (dotted for @project flows)."""
        from metaflow import get_metadata

        from airflow_provider_metaflow.plan import read_deployment_tags

        details = _api(None).dag_details(identifier)
        if details is None:
            raise MetaflowException(f"No deployed flow found for: {identifier}")
        fields = read_deployment_tags(details.tags)
        if "flow" not in fields:
            raise MetaflowException(
                f"DAG {identifier} was not deployed by `airflow create`: it has no flow tag."
            )
        options, env = _project_options(fields.get("branch"))
        flow_file = _stand_in_flow_file(fields["flow"], details.params, fields.get("project"))
        if "project" in fields:
            deployer = Deployer(flow_file, env=env, **options).airflow()  # type: ignore[attr-defined]
        else:
            deployer = Deployer(flow_file, env=env).airflow(name=identifier)  # type: ignore[attr-defined]
        deployer.name = identifier
        deployer.flow_name = fields["flow"]
        deployer.metadata = metadata or get_metadata()
        return cls(deployer=deployer)

    @classmethod
    def get_triggered_run(
        cls, identifier: str, run_id: str, metadata: str | None = None
    ) -> AirflowTriggeredRun:
        """A run of the deployed flow, by its Airflow run id or its Metaflow run id."""
        from airflow_provider_metaflow.runtime.ids import RUN_ID_PREFIX, metaflow_run_id

        deployed = cls.from_deployment(identifier, metadata)
        airflow_run_id = run_id
        if run_id.startswith(RUN_ID_PREFIX):
            runs = _api(None).runs(identifier, limit=1000)
            matching = [run.run_id for run in runs if metaflow_run_id(identifier, run.run_id) == run_id]
            if not matching:
                raise MetaflowException(f"DAG {identifier} has no run that is Metaflow run {run_id}.")
            airflow_run_id = matching[0]
        content = {
            "metadata": deployed.deployer.metadata,
            "pathspec": f"{deployed.deployer.flow_name}/{metaflow_run_id(identifier, airflow_run_id)}",
            "name": airflow_run_id,
        }
        return AirflowTriggeredRun(deployer=deployed.deployer, content=json.dumps(content))


def _project_options(branch: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """@project's top-level options and environment that name this branch again."""
    if branch is None:
        return {}, {}
    if branch == "prod":
        return {"production": True}, {}
    if branch.startswith("prod."):
        return {"production": True, "branch": branch[len("prod.") :]}, {}
    if branch.startswith("test."):
        return {"branch": branch[len("test.") :]}, {}
    return {}, {"METAFLOW_USER": branch[len("user.") :]} if branch.startswith("user.") else {}


def _stand_in_flow_file(flow_name: str, params: dict[str, Any], project: str | None) -> str:
    """A flow file with the deployed flow's name and Parameters (read from the DAG's params), which
    the deployer's commands load, as Metaflow's other deployers do."""
    info = {}
    for name, param in params.items():
        schema = param.get("schema", {}) if isinstance(param, dict) else {}
        types = schema.get("type", "string")
        types = [types] if isinstance(types, str) else [kind for kind in types if kind != "null"]
        kind = types[0] if len(types) == 1 else "string"
        info[name] = {
            "name": name,
            "python_var_name": re.sub(r"\W", "_", name),
            "type": _PARAMETER_TYPES.get(kind, "JSON"),
            "description": str(param.get("description") or "") if isinstance(param, dict) else "",
            "is_required": False,
        }
    handle, path = tempfile.mkstemp(suffix=".py", prefix=f"{flow_name}_")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(
            generate_fake_flow_file_contents(flow_name=flow_name, param_info=info, project_name=project)
        )
    return path
