"""The environment of a Metaflow process that a task starts on the worker, and who it runs as."""

from __future__ import annotations

import os
from collections.abc import Mapping

from airflow_provider_metaflow.flow import MetaflowFlow

DEFAULT_METAFLOW_USER = "airflow"
PRODUCTION_TOKEN_ENV = "METAFLOW_PRODUCTION_TOKEN"


def flow_identity(flow: MetaflowFlow) -> dict[str, str]:
    """Who the flow's steps run as: the deployer, as on Metaflow's other schedulers."""
    if not flow.user:
        return {}
    return {"METAFLOW_USER": flow.user, "METAFLOW_OWNER": flow.user}


def flow_secrets(flow: MetaflowFlow) -> dict[str, str]:
    """Variables a step needs whose values must stay out of pod specs and logs."""
    return {PRODUCTION_TOKEN_ENV: flow.production_token} if flow.production_token else {}


def metaflow_environment(
    flow: MetaflowFlow, metaflow_conn_id: str | None = None, *overrides: Mapping[str, str]
) -> dict[str, str]:
    """The environment of a Metaflow process run for `flow` on this worker: the worker's own,
    the `metaflow` connection's configuration (the given one, else the flow's), the flow's
    identity, then overrides."""
    env = dict(os.environ)
    env.setdefault("METAFLOW_USER", DEFAULT_METAFLOW_USER)  # steps fail with "Unknown user"
    metaflow_conn_id = metaflow_conn_id or flow.metaflow_conn_id
    if metaflow_conn_id:
        from airflow_provider_metaflow.hooks.metaflow import MetaflowHook

        env.update(MetaflowHook(metaflow_conn_id).metaflow_environment())
    env.update(flow_identity(flow))
    env.update(flow_secrets(flow))
    for override in overrides:
        env.update(override)
    env["PYTHONUNBUFFERED"] = "1"
    return env
