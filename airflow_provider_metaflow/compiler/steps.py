"""Step decorators -> Airflow task settings, and a clear refusal for what cannot run here.

Decorators that act inside the step process itself (@catch's exception capture, @secrets,
@card) need nothing from Airflow but the right attempt numbers; those that shape how a step is
launched (@retry, @timeout, @environment, @resources) become operator arguments.

@retry's and @timeout's attributes are whole numbers, as Metaflow reads them (int(), so "3"
is 3); a fraction, a word or a negative number is a Problem, never a traceback or a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_metaflow.backends.registry import KUBERNETES
from airflow_provider_metaflow.compiler.errors import Problem, attribute_problem
from airflow_provider_metaflow.compiler.kubernetes_values import InvalidValue, whole_number
from airflow_provider_metaflow.runtime.attempts import METAFLOW_MAX_ATTEMPTS

# Step decorator -> the execution backend it selects (its settings: compiler.compute).
COMPUTE_DECORATORS: dict[str, str] = {"kubernetes": KUBERNETES}
# Decorators that run inside the step process and need no Airflow counterpart.
IN_STEP_DECORATORS = frozenset({"secrets", "card", "airflow_internal"})

_REMEDIES = {
    "batch": "Airflow runs each step as a process on its worker; remove @batch (use @resources to "
    "record what the step needs) or deploy this flow with `step-functions create`.",
    "slurm": "Airflow runs each step on its own workers; remove @slurm or run the flow on Slurm directly.",
    "parallel": "@parallel needs gang-scheduled workers that Airflow does not provide; use a foreach.",
    "conda": "install the step's packages in the worker's environment and remove @conda.",
    "pypi": "install the step's packages in the worker's environment and remove @pypi.",
    "conda_base": "install the flow's packages in the worker's environment and remove @conda_base.",
    "pypi_base": "install the flow's packages in the worker's environment and remove @pypi_base.",
}


@dataclass(frozen=True)
class StepSettings:
    retries: int = 0
    retry_delay_seconds: int = 0
    timeout_seconds: int | None = None
    error_retries: int = 0
    environment: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)


def step_settings(node: Any, problems: list[Problem]) -> StepSettings:
    where = f"step {node.name!r}"
    retries, retry_delay, timeout, error_retries = 0, 0, None, 0
    environment: dict[str, str] = {}
    resources: dict[str, Any] = {}
    for deco in node.decorators:
        attributes = deco.attributes
        if deco.name == "retry":
            retries = whole_attribute(node.name, deco, "times", problems) or 0
            retry_delay = 60 * (whole_attribute(node.name, deco, "minutes_between_retries", problems) or 0)
        elif deco.name == "catch":
            error_retries = 1  # Metaflow's fallback attempt, which runs no user code
        elif deco.name == "timeout":
            timeout = timeout_seconds(node.name, deco, problems)
        elif deco.name == "environment":
            environment.update({str(k): str(v) for k, v in (attributes.get("vars") or {}).items()})
        elif deco.name == "resources":
            resources = {k: v for k, v in attributes.items() if v is not None}
        elif deco.name not in IN_STEP_DECORATORS | COMPUTE_DECORATORS.keys():
            remedy = _REMEDIES.get(
                deco.name,
                f"remove @{deco.name} from step {node.name!r} to deploy on Airflow, or deploy this flow "
                "with another scheduler.",
            )
            problems.append(
                Problem(
                    f"{where} @{deco.name}",
                    "is not supported on Airflow, and running the step without it would change what it does.",
                    remedy[0].upper() + remedy[1:],
                )
            )
    if retries + error_retries + 1 > METAFLOW_MAX_ATTEMPTS:
        problems.append(
            Problem(
                f"{where} @retry",
                f"asks for {retries} retries{' plus @catch' if error_retries else ''}, but "
                f"Metaflow keeps at most {METAFLOW_MAX_ATTEMPTS} attempts per task.",
                f"Use @retry(times={METAFLOW_MAX_ATTEMPTS - 1 - error_retries}) or fewer.",
            )
        )
    return StepSettings(retries, retry_delay, timeout, error_retries, environment, resources)


# Each attribute's unit, and a value to show in the fix (Metaflow's own default where it has one).
_WHOLE_ATTRIBUTES = {
    "times": ("retries", 3),
    "minutes_between_retries": ("minutes", 2),
    "seconds": ("seconds", 60),
    "minutes": ("minutes", 10),
    "hours": ("hours", 1),
}


def timeout_seconds(step: str, deco: Any, problems: list[Problem]) -> int | None:
    """@timeout's total in seconds: None for no timeout, or when an attribute is a Problem.
    compiler.kubernetes reads a pod step's @timeout with this too."""
    parts = [whole_attribute(step, deco, unit, problems) for unit in ("hours", "minutes", "seconds")]
    if None in parts:
        return None
    hours, minutes, seconds = (part or 0 for part in parts)
    return hours * 3600 + minutes * 60 + seconds or None


def whole_attribute(step: str, deco: Any, attribute: str, problems: list[Problem]) -> int | None:
    """A @retry or @timeout attribute as the whole number Metaflow reads (unset is 0), or None
    and a Problem: Metaflow itself would fail on it, or silently cut a fraction off."""
    value = deco.attributes.get(attribute) or 0
    unit, example = _WHOLE_ATTRIBUTES[attribute]
    try:
        return whole_number(value, minimum=0, what=unit)
    except InvalidValue:
        problems.append(
            attribute_problem(
                step,
                deco.name,
                attribute,
                value,
                f"must be a whole number of {unit}, 0 or more: Metaflow reads it as an integer.",
                f"Write an integer (or a string of digits), for example @{deco.name}({attribute}={example}).",
            )
        )
        return None
