"""Flow Parameters -> typed Airflow DAG params (JSON schema types), and Config values.

Defaults computed at deploy time (functions, IncludeFile uploads, config_expr) are evaluated
here, once, at `create`, the way Metaflow's other schedulers do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from airflow_provider_metaflow.compiler.errors import Problem
from airflow_provider_metaflow.compiler.metaflow_view import MetaflowView
from airflow_provider_metaflow.plan import ParameterPlan

_JSON_TYPES: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_JSON_TYPES_OF_VALUES: dict[type, str] = {dict: "object", list: "array", **_JSON_TYPES}


def parameter_plans(
    flow: Any, metaflow: MetaflowView, has_schedule: bool
) -> tuple[list[ParameterPlan], list[Problem]]:
    plans: list[ParameterPlan] = []
    problems: list[Problem] = []
    for param in metaflow.flow_parameters(flow):
        plan, problem = _parameter_plan(param, metaflow, has_schedule)
        if problem is not None:
            problems.append(problem)
        elif plan is not None:
            plans.append(plan)
    return plans, problems


def config_values(flow: Any, metaflow: MetaflowView) -> list[tuple[str, str]]:
    """Config values as Metaflow resolved them for this `create` (--config / --config-value).

    Keys keep Metaflow's order: the run must store exactly what `python flow.py run` stores,
    and Metaflow's order is stable, so the generated file is too."""
    return [(name, json.dumps(value)) for name, value in metaflow.flow_configs(flow).items()]


def _parameter_plan(
    param: Any, metaflow: MetaflowView, has_schedule: bool
) -> tuple[ParameterPlan | None, Problem | None]:
    where = f"parameter {param.name!r}"
    if not param.name.replace("-", "_").isidentifier():
        return None, Problem(
            where,
            "cannot become a command-line option, so Metaflow cannot pass it to the run.",
            "Name it with letters, digits, '_' and '-' only.",
        )
    kwargs = param.kwargs
    description = kwargs.get("help")
    required = bool(kwargs.get("required", False))
    is_json = metaflow.is_json_parameter(param)
    try:
        default = metaflow.deploy_time_value(kwargs.get("default"))
    except Exception as error:  # noqa: BLE001 - user code: report it as a compile problem
        return None, Problem(
            where,
            f"its default could not be computed at deploy time ({error!r}).",
            "Fix the default function, or give the parameter a literal default.",
        )
    if default is None:
        if not required:
            # Metaflow passes None to the flow for an optional parameter left unset.
            return ParameterPlan(param.name, None, None, True, description, is_json), None
        if has_schedule:
            return None, Problem(
                where,
                "is required and has no default, and the flow has @schedule: Airflow "
                "refuses scheduled DAGs whose params have no default.",
                "Give it a default, or remove @schedule and trigger the DAG with --conf.",
            )
        json_type = None if is_json else _declared_json_type(kwargs.get("type"))
        return ParameterPlan(param.name, json_type, None, False, description, is_json), None
    if metaflow.is_include_file(param):
        # The file was read and stored in the datastore just now; the value is its descriptor.
        return ParameterPlan(param.name, "string", str(default), True, description), None
    if is_json:
        value = json.loads(default) if isinstance(default, str) else default
        return _carried(
            where,
            ParameterPlan(param.name, _JSON_TYPES_OF_VALUES.get(type(value)), value, True, description, True),
        )
    declared = kwargs.get("type") or type(default)
    json_type = _declared_json_type(declared)
    if json_type is None:
        return None, Problem(
            where,
            f"has type {getattr(declared, '__name__', declared)!r}, which Airflow params cannot carry.",
            "Use str, int, float, bool or JSONType.",
        )
    try:
        value = declared(default)
    except (TypeError, ValueError, OverflowError):
        return None, Problem(
            where,
            f"has the default {default!r}, which is not a valid {declared.__name__} "
            "(`python flow.py run` refuses it too).",
            f"Give it a default of type {declared.__name__}.",
        )
    return _carried(where, ParameterPlan(param.name, json_type, value, True, description))


def _carried(where: str, plan: ParameterPlan) -> tuple[ParameterPlan | None, Problem | None]:
    """The plan, or a Problem if Airflow cannot carry its default: it keeps DAG params as JSON,
    which has no inf or nan, and its serialized DAG holds the text 'inf' in place of the number
    (so it refuses every run of a number param, and shows and sends text for a JSON one)."""
    found = _non_finite(plan.default, "")
    if found is None:
        return plan, None
    at, number = found
    text = str(number)
    if not at:
        example = " (for example 1e308 for 'no limit')" if math.isinf(number) else ""
        return None, Problem(
            where,
            f"defaults to {text}, which Airflow cannot carry: it stores DAG params as JSON, which has "
            f"no inf or nan, so the scheduler would see the text {text!r} and refuse every run.",
            f"Use a finite default{example}, or default=None and treat None as unset in the flow.",
        )
    return None, Problem(
        where,
        f"has {text} in its default (at {at}), which Airflow cannot carry: it stores DAG params as "
        f"JSON, which has no inf or nan, so the scheduler and the trigger form would see the text "
        f"{text!r} in place of the number.",
        "Use a finite number or null there, and treat it as unset in the flow.",
    )


def _non_finite(value: Any, at: str) -> tuple[str, float] | None:
    """The first inf or nan in `value` and where it is (`''` for the value itself), or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (at, value)
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{at}[{key!r}]")
        if found is not None:
            return found
    return None


def _declared_json_type(declared: Any) -> str | None:
    return _JSON_TYPES.get(declared) if isinstance(declared, type) else None
