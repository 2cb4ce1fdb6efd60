"""Every task of a DAG needs its own task id: a step may not take the id of a task the
compiler adds (an upstream flow's sensor, a nested foreach's splits task, the @exit_hook task).

Airflow refuses to load a DAG with two tasks of one id, so `create` refuses it first. The ids
themselves are defined once, in airflow_provider_metaflow.plan, for this check and the renderer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from airflow_provider_metaflow.compiler.errors import Problem
from airflow_provider_metaflow.plan import EXIT_HOOK_TASK_ID, StepPlan, UpstreamFlow, splits_task_id


@dataclass(frozen=True)
class _Claim:
    """A task the DAG will have: its id, what it is, and the step to rename (if it is one)."""

    task_id: str
    what: str
    step: str | None = None


def task_id_problems(
    steps: Sequence[StepPlan], upstream_flows: Sequence[UpstreamFlow], has_exit_hook: bool
) -> list[Problem]:
    """One Problem per task id that two tasks of the DAG would share."""
    by_id: dict[str, list[_Claim]] = {}
    for claim in _claims(steps, upstream_flows, has_exit_hook):
        by_id.setdefault(claim.task_id, []).append(claim)
    return [_problem(task_id, claims) for task_id, claims in by_id.items() if len(claims) > 1]


def planned_task_ids(
    steps: Sequence[StepPlan], upstream_flows: Sequence[UpstreamFlow], has_exit_hook: bool
) -> list[str]:
    """Every task id the rendered DAG will have, in no particular order."""
    return [claim.task_id for claim in _claims(steps, upstream_flows, has_exit_hook)]


def _claims(
    steps: Sequence[StepPlan], upstream_flows: Sequence[UpstreamFlow], has_exit_hook: bool
) -> list[_Claim]:
    claims = []
    for step in steps:
        claims.append(_Claim(step.name, f"step {step.name!r}", step.name))
        if step.has_splits_task:
            claims.append(
                _Claim(splits_task_id(step.name), f"the splits task of nested foreach step {step.name!r}")
            )
    for upstream in upstream_flows:
        if not upstream.deployed_here:
            claims.append(
                _Claim(
                    upstream.sensor_task_id,
                    f"the sensor that waits for flow {upstream.flow!r} (@trigger_on_finish)",
                )
            )
    if has_exit_hook:
        claims.append(_Claim(EXIT_HOOK_TASK_ID, "the @exit_hook task"))
    return claims


def _problem(task_id: str, claims: list[_Claim]) -> Problem:
    steps = [claim.step for claim in claims if claim.step is not None]
    others = " and ".join(claim.what for claim in claims if claim.step is None)
    if not steps:  # two generated tasks: only @trigger_on_finish can name two flows alike
        return Problem(
            "@trigger_on_finish",
            f"needs {others}, each as Airflow task {task_id!r}; Airflow cannot load a DAG with two "
            "tasks of one id.",
            "Wait for one of these flows only, or deploy them with this provider (their DAGs then "
            "start this one through Assets, with no sensor).",
        )
    (step,) = steps  # step names are unique, so at most one step claims an id
    return Problem(
        f"step {step!r}",
        f"has Airflow task id {task_id!r}, which is also the id of {others}; Airflow cannot load a "
        "DAG with two tasks of one id.",
        f"Rename step {step!r} to a name no other task of the DAG uses.",
    )
