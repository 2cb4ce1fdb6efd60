"""The run's Parameter values, as the start task hands them to its step process.

Values come from the DAG run's params (its defaults, a trigger's `conf`) and from the payload of
the events that started it. They are data: never rendered as templates, never on a command
line (they travel in a file), and their names are checked against the flow's own Parameters in
the step process before Metaflow's `init` sees them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_metaflow.execution.run_triggers import event_parameter_values
from airflow_provider_metaflow.flow import MetaflowFlow
from metaflow_extensions.airflow_provider_metaflow.plugins.contract import PARAMETERS_TASK_ID, RunParameters


def run_parameters(
    flow: MetaflowFlow, context: Mapping[str, Any], run_id: str, tags: Sequence[str]
) -> RunParameters:
    params = {**(context.get("params") or {}), **event_parameter_values(flow, context)}
    return RunParameters(run_id, PARAMETERS_TASK_ID, list(tags), parameter_values(flow, params))


def parameter_values(flow: MetaflowFlow, params: Mapping[str, Any]) -> dict[str, str]:
    """Values for `init`, as Metaflow's command line reads them. A parameter left unset (None)
    keeps Metaflow's own default. With `MetaflowFlow(parameters=None)` every DAG param is
    offered, and the step process refuses any that is not one of the flow's Parameters."""
    names = flow.parameters if flow.parameters is not None else list(params)
    json_names = set(flow.json_parameters)
    return {
        str(name): json.dumps(params[name]) if name in json_names else cli_value(params[name])
        for name in names
        if params.get(name) is not None
    }


def cli_value(value: Any) -> str:
    """A DAG param as Metaflow's CLI reads it: booleans as true/false, the rest as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
