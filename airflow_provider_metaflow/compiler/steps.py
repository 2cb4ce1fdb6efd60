"""Step decorators -> Airflow task settings, and a clear refusal for what cannot run here.

Decorators that act inside the step process itself (@catch's exception capture, @secrets,
@card) need nothing from Airflow but the right attempt numbers; those that shape how a step is
launched (@retry, @timeout, @environment, @resources) become operator arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_metaflow.compiler.errors import Problem
from airflow_provider_metaflow.runtime.attempts import METAFLOW_MAX_ATTEMPTS

# Decorators that run inside the step process and need no Airflow counterpart.
IN_STEP_DECORATORS = frozenset({"secrets", "card", "airflow_internal"})
# Decorators read by another part of the compiler (compiler.kubernetes).
COMPUTE_DECORATORS = frozenset({"kubernetes"})

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
            retries = int(attributes.get("times", 0) or 0)
            retry_delay = int(float(attributes.get("minutes_between_retries", 0) or 0) * 60)
        elif deco.name == "catch":
            error_retries = 1  # Metaflow's fallback attempt, which runs no user code
        elif deco.name == "timeout":
            timeout = (
                int(attributes.get("seconds", 0) or 0)
                + 60 * int(attributes.get("minutes", 0) or 0)
                + 3600 * int(attributes.get("hours", 0) or 0)
            ) or None
        elif deco.name == "environment":
            environment.update({str(k): str(v) for k, v in (attributes.get("vars") or {}).items()})
        elif deco.name == "resources":
            resources = {k: v for k, v in attributes.items() if v is not None}
        elif deco.name not in IN_STEP_DECORATORS | COMPUTE_DECORATORS:
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
