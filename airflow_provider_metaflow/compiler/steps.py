"""Step decorators -> Airflow task settings (retries, retry delay, execution timeout)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_metaflow.compiler.errors import Problem
from airflow_provider_metaflow.runtime.attempts import METAFLOW_MAX_ATTEMPTS

SUPPORTED_STEP_DECORATORS = frozenset({"retry", "timeout"})
# Decorators Metaflow attaches to steps by itself and that change nothing on Airflow.
IMPLICIT_STEP_DECORATORS = frozenset({"airflow_internal"})


@dataclass(frozen=True)
class StepSettings:
    retries: int = 0
    retry_delay_seconds: int = 0
    timeout_seconds: int | None = None


def step_settings(node: Any, problems: list[Problem]) -> StepSettings:
    where = f"step {node.name!r}"
    retries, retry_delay, timeout = 0, 0, None
    for deco in node.decorators:
        attributes = deco.attributes
        if deco.name == "retry":
            retries = int(attributes.get("times", 0) or 0)
            retry_delay = int(float(attributes.get("minutes_between_retries", 0) or 0) * 60)
            if retries + 1 > METAFLOW_MAX_ATTEMPTS:
                problems.append(
                    Problem(
                        f"{where} @retry",
                        f"asks for {retries} retries, but Metaflow keeps at most "
                        f"{METAFLOW_MAX_ATTEMPTS} attempts per task.",
                        f"Use @retry(times={METAFLOW_MAX_ATTEMPTS - 1}) or fewer.",
                    )
                )
        elif deco.name == "timeout":
            timeout = (
                int(attributes.get("seconds", 0) or 0)
                + 60 * int(attributes.get("minutes", 0) or 0)
                + 3600 * int(attributes.get("hours", 0) or 0)
            ) or None
        elif deco.name not in IMPLICIT_STEP_DECORATORS:
            problems.append(
                Problem(
                    f"{where} @{deco.name}",
                    "is not supported on Airflow yet, and running without it "
                    "would change what the step does.",
                    f"Remove @{deco.name} from step {node.name!r} to deploy on Airflow, or deploy this flow "
                    "with another scheduler.",
                )
            )
    return StepSettings(retries, retry_delay, timeout)
