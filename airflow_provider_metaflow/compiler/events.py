"""@trigger_on_finish and @trigger -> what schedules the DAG, and what tells each run why it ran.

Every DAG made by `create` updates an Airflow Asset for its flow when the flow's end step
succeeds (`metaflow://FLOW`, or `metaflow://PROJECT/BRANCH/FLOW` under @project), with the run's
pathspec in the asset event's extra. So:

- `@trigger_on_finish(flow=...)` on an upstream flow deployed by this provider becomes
  `schedule=[Asset(upstream URI), ...]`: the DAG runs when every upstream flow has a new successful
  run (Metaflow's rule for several flows). An upstream flow deployed elsewhere (Argo, another
  Airflow, runs by hand) has no Asset here: a MetaflowFlowSensor in front of the start step waits
  for its next successful run instead. Either way every step gets Metaflow's `--trigger PATHSPEC`,
  so `current.trigger.run` is the upstream Run, as on Metaflow's other schedulers.
- `@trigger(event=...)` becomes `schedule=[Asset("metaflow-event://NAME"), ...]`. Anything that
  updates that Asset (a producer task's outlet, the REST API, another DAG) with an `extra` starts
  the DAG, and the event's fields named in `parameters` become the run's Parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from airflow_provider_metaflow.compiler.errors import Problem
from airflow_provider_metaflow.plan import EVENT_ASSET_SCHEME, FLOW_ASSET_SCHEME, EventTrigger, UpstreamFlow


def flow_asset_uri(flow: str, project: str | None = None, branch: str | None = None) -> str:
    """The Asset a flow's DAG updates when a run succeeds (non-ASCII names percent-encoded:
    Airflow takes only ASCII URIs)."""
    if project:
        return f"{FLOW_ASSET_SCHEME}://{_part(project)}/{_part(str(branch))}/{_part(flow)}"
    return f"{FLOW_ASSET_SCHEME}://{_part(flow)}"


def event_asset_uri(event: str) -> str:
    return f"{EVENT_ASSET_SCHEME}://{_part(event)}"


def _part(name: str) -> str:
    return quote(name, safe=".-_~")


def upstream_flows(
    triggers: list[Any],
    project: str | None,
    branch: str | None,
    deployed: Callable[[str], bool],
    problems: list[Problem],
) -> list[UpstreamFlow]:
    """@trigger_on_finish's triggers (deploy-time values evaluated). `deployed(dag_id) -> bool`
    tells whether this provider deployed a DAG of that id."""
    found = []
    for trigger in triggers:
        if not isinstance(trigger, dict) or "flow" not in trigger:
            problems.append(_unmappable("@trigger_on_finish", f"names {trigger!r}"))
            continue
        flow = str(trigger["flow"])
        up_project = trigger.get("project") or project
        up_branch = trigger.get("branch") or (branch if up_project == project else None)
        if up_project and not up_branch:
            problems.append(
                Problem(
                    "@trigger_on_finish",
                    f"names flow {flow!r} of project {up_project!r} without a branch.",
                    "Name it in full: flow='project.branch.FlowName' (for example 'my_project.prod.Flow').",
                )
            )
            continue
        dag_id = f"{up_project}.{up_branch}.{flow}" if up_project else flow
        found.append(
            UpstreamFlow(
                flow, up_project, up_branch, flow_asset_uri(flow, up_project, up_branch), deployed(dag_id)
            )
        )
    return found


def event_triggers(triggers: list[Any], problems: list[Problem]) -> list[EventTrigger]:
    """@trigger's events (deploy-time values evaluated)."""
    found = []
    for trigger in triggers:
        name = trigger.get("name") if isinstance(trigger, dict) else None
        parameters = trigger.get("parameters") or {} if isinstance(trigger, dict) else None
        if not isinstance(name, str) or not isinstance(parameters, dict):
            problems.append(_unmappable("@trigger", f"has an event this provider cannot read: {trigger!r}"))
            continue
        pairs = tuple((str(param), str(field)) for param, field in parameters.items())
        found.append(EventTrigger(name, event_asset_uri(name), pairs))
    return found


def _unmappable(where: str, what: str) -> Problem:
    return Problem(
        where,
        f"{what}, which cannot become an Airflow Asset.",
        "Name flows as 'FlowName' or 'project.branch.FlowName', and events as a name with an optional "
        "'parameters' mapping.",
    )
