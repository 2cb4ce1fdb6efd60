"""The run's Parameter values, as the start task hands them to its step process.

Values come from the DAG run's params (its defaults, a trigger's `conf`), from the payload of
the events that started it, and from the start task's own `parameters=` (the DAG author's
values: templates and XComArgs, which Airflow has resolved by now). The author's values win:
they name a Parameter explicitly for this flow. A flow in a MetaflowTaskGroup takes only those:
the params of the DAG around it are that DAG's own, and may hold the same names for other
uses (a template such as `{{ params.x }}` hands one over on purpose). Users' values are data:
never rendered as templates, never on a command line (they travel in a file). Every name and
value is checked against the flow's own Parameters, their names and types, in the step process
before Metaflow's `init` sees them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_metaflow.execution.run_triggers import event_parameter_values
from airflow_provider_metaflow.flow import MetaflowFlow
from metaflow_extensions.airflow_provider_metaflow.plugins.contract import (
    PARAMETERS_TASK_ID,
    RESUME_CONF_KEY,
    RunParameters,
)


def run_parameters(
    flow: MetaflowFlow,
    context: Mapping[str, Any],
    run_id: str,
    tags: Sequence[str],
    given: Mapping[str, Any] | None = None,
    in_group: bool = False,
) -> RunParameters:
    """`given`: the start task's rendered `parameters=`, which win over the DAG run's values
    (not read at all `in_group`). Every name given is passed on, so one that is not a
    Parameter is refused by name."""
    params = {} if in_group else {**(context.get("params") or {}), **event_parameter_values(flow, context)}
    params.pop(RESUME_CONF_KEY, None)  # a resume's request, not a Parameter
    given = dict(given or {})
    values = {
        **parameter_values(flow, params),
        **parameter_values(flow, given, list(given), text_is_json=True),
    }
    return RunParameters(run_id, PARAMETERS_TASK_ID, list(tags), values)


def parameter_values(
    flow: MetaflowFlow,
    params: Mapping[str, Any],
    names: Sequence[str] | None = None,
    text_is_json: bool = False,
) -> dict[str, str]:
    """Values for `init`, as Metaflow's command line reads them. A parameter left unset (None)
    keeps Metaflow's own default. With `MetaflowFlow(parameters=None)` every DAG param is
    offered, and the step process refuses any that is not one of the flow's Parameters.
    A JSONType Parameter gets its value as JSON text; with `text_is_json`, a string is taken to
    be that text already (a rendered template is always a string, such as `{{ x | tojson }}`)."""
    if names is None:
        names = flow.parameters if flow.parameters is not None else list(params)
    json_names = set(flow.json_parameters)

    def text(name: str, value: Any) -> str:
        if name not in json_names:
            return cli_value(value)
        return value if text_is_json and isinstance(value, str) else json.dumps(value)

    return {str(name): text(name, params[name]) for name in names if params.get(name) is not None}


def cli_value(value: Any) -> str:
    """A DAG param as Metaflow's CLI reads it: booleans as true/false, the rest as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
