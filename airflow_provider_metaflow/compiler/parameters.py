"""Flow Parameters -> typed Airflow DAG params (JSON schema types)."""

from __future__ import annotations

from typing import Any

from airflow_provider_metaflow.compiler.errors import Problem
from airflow_provider_metaflow.plan import ParameterPlan

_JSON_TYPES: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def parameter_plans(flow: Any) -> tuple[list[ParameterPlan], list[Problem]]:
    plans: list[ParameterPlan] = []
    problems: list[Problem] = []
    for _attribute, param in flow._get_parameters():
        where = f"parameter {param.name!r}"
        if getattr(param, "IS_CONFIG_PARAMETER", False):
            problems.append(
                Problem(
                    f"config {param.name!r}",
                    "Config values are not supported on Airflow yet.",
                    "Use a Parameter for now.",
                )
            )
            continue
        kwargs = param.kwargs
        default = kwargs.get("default")
        if type(param).__name__ == "IncludeFile":
            problems.append(
                Problem(
                    where,
                    "is an IncludeFile, not supported yet.",
                    "Use a str Parameter holding a path for now.",
                )
            )
            continue
        if default is None:
            problems.append(
                Problem(
                    where,
                    "has no default; Parameters without defaults are not supported yet.",
                    "Give it a default value.",
                )
            )
            continue
        if callable(default):
            problems.append(
                Problem(
                    where,
                    "has a default computed by a function, not supported yet.",
                    "Give it a literal default value.",
                )
            )
            continue
        declared = kwargs.get("type") or type(default)
        json_type = _JSON_TYPES.get(declared) if isinstance(declared, type) else None
        if json_type is None:
            problems.append(
                Problem(
                    where,
                    f"has type {getattr(declared, '__name__', declared)!r}; only str, int, float and "
                    "bool are supported yet.",
                    "Use one of those types.",
                )
            )
            continue
        plans.append(
            ParameterPlan(
                name=param.name,
                json_type=json_type,
                default=declared(default),
                description=kwargs.get("help"),
            )
        )
    return plans, problems
