"""MetaflowFlow: how Airflow reaches a flow's code. It holds names and paths, never secrets.

Configuration (datastore, metadata, credentials) comes from the worker's Metaflow config,
not from here, so the same DAG file runs on a laptop and in production.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from airflow_provider_metaflow.version import DAG_FORMAT, SUPPORTED_DAG_FORMATS, __version__


class IncompatibleDagFormat(ImportError):
    """Raised while parsing a DAG that this provider version cannot run."""


class MetaflowFlow:
    """A Metaflow flow as seen from a DAG file.

    name: the FlowSpec class name.
    file: the flow's file, relative to the DAG file's folder unless absolute, so a repository
        with dags/ and flows/ deploys as one bundle.
    python: the interpreter that runs steps; the worker's own when None.
    parameters: the flow's Parameter names, forwarded from the DAG's params to the run;
        when None, every DAG param is forwarded.
    json_parameters: the Parameters Metaflow reads as JSON (JSONType): sent as JSON text.
    configs: Config values resolved at `create`, as JSON text by Config name.
    tags: Metaflow tags for every task of every run.
    namespace: the Metaflow namespace steps run in (`--namespace`).
    user: the Metaflow user steps run as (the deployer); the worker's METAFLOW_USER, else
        "airflow", when None.
    production_token: the deployment's production token (METAFLOW_PRODUCTION_TOKEN).
    top_level_options: extra options for every Metaflow command, such as @project's
        `--branch NAME` or `--production`.
    metaflow_conn_id: a `metaflow` connection whose configuration (datastore, metadata
        service, credentials) every step uses; the worker's own Metaflow config when None.
    code_package: where `airflow create` stored the flow's code package and its hash
        ({"url", "sha", "metadata"}), for steps that run as pods.
    trigger_assets: Assets of upstream flows (@trigger_on_finish) whose events start this DAG;
        each run's steps get the upstream run from the event (`current.trigger.run`).
    trigger_sensors: MetaflowFlowSensor tasks waiting for upstream flows deployed elsewhere;
        each run's steps get the upstream run from the sensor's `pathspec`.
    event_parameters: for Assets of named events (@trigger): {asset URI: {Parameter: payload
        field}}, the event fields the start step passes as Parameter values.
    dag_format: the generated-DAG format the file was written in; checked at parse time.

    A plain slotted class rather than a dataclass: every DAG file that uses the provider
    imports this module on every parse, and a dataclass costs a millisecond to define.
    """

    __slots__ = (
        "name",
        "file",
        "python",
        "parameters",
        "json_parameters",
        "configs",
        "tags",
        "namespace",
        "user",
        "production_token",
        "top_level_options",
        "metaflow_conn_id",
        "code_package",
        "trigger_assets",
        "trigger_sensors",
        "event_parameters",
        "dag_format",
    )

    def __init__(
        self,
        name: str,
        file: str,
        python: str | None = None,
        parameters: Sequence[str] | None = None,
        json_parameters: Sequence[str] = (),
        configs: Mapping[str, str] | None = None,
        tags: Sequence[str] = (),
        namespace: str | None = None,
        user: str | None = None,
        production_token: str | None = None,
        top_level_options: Sequence[str] = (),
        metaflow_conn_id: str | None = None,
        code_package: Mapping[str, str] | None = None,
        trigger_assets: Sequence[str] = (),
        trigger_sensors: Sequence[str] = (),
        event_parameters: Mapping[str, Mapping[str, str]] | None = None,
        dag_format: int = DAG_FORMAT,
    ) -> None:
        self.name = name
        self.file = file
        self.python = python
        self.parameters = parameters
        self.json_parameters = tuple(json_parameters)
        self.configs = dict(configs or {})
        self.tags = tuple(tags)
        self.namespace = namespace
        self.user = user
        self.production_token = production_token
        self.top_level_options = tuple(top_level_options)
        self.metaflow_conn_id = metaflow_conn_id
        self.code_package = dict(code_package) if code_package else None
        self.trigger_assets = tuple(trigger_assets)
        self.trigger_sensors = tuple(trigger_sensors)
        self.event_parameters = {uri: dict(fields) for uri, fields in (event_parameters or {}).items()}
        self.dag_format = dag_format
        if dag_format not in SUPPORTED_DAG_FORMATS:
            raise IncompatibleDagFormat(
                f"This DAG for flow {self.name!r} was generated in DAG format {self.dag_format}, "
                f"but the installed airflow-provider-metaflow {__version__} reads formats "
                f"{sorted(SUPPORTED_DAG_FORMATS)}. Regenerate the DAG with "
                f"`python {os.path.basename(self.file)} airflow create`, or install the provider "
                "version that generated it."
            )

    def __repr__(self) -> str:
        return f"MetaflowFlow({self.name!r}, file={self.file!r})"

    def resolve_file(self, dag_file: str | None) -> str:
        """Absolute path of the flow file; relative paths start at the DAG file's folder."""
        if os.path.isabs(self.file) or not dag_file:
            return os.path.abspath(self.file)
        return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(dag_file)), self.file))

    def interpreter(self) -> str:
        return self.python or sys.executable
