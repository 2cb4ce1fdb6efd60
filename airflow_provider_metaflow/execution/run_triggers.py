"""What started this DAG run, and what this run tells the flows that wait for it.

- Upstream flows (@trigger_on_finish): their runs' pathspecs, from the Asset events that started
  the DAG run or from the sensors in front of the start step. Every step passes them to Metaflow
  as `--trigger PATHSPEC`, so `current.trigger.run` is the upstream Run.
- Named events (@trigger): the payload fields the flow maps to Parameters.
- The flow's own Asset: the end step's success updates it with this run's pathspec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_metaflow.execution.upstream import XCOM_PATHSPEC_KEY
from airflow_provider_metaflow.flow import MetaflowFlow
from airflow_provider_metaflow.plan import FLOW_ASSET_SCHEME


def upstream_runs(flow: MetaflowFlow, context: Mapping[str, Any]) -> list[str]:
    """Pathspecs of the upstream runs that started this DAG run (none for a manual run)."""
    runs = [
        str(extra["pathspec"])
        for extra in _latest_event_extras(context, flow.trigger_assets).values()
        if extra.get("pathspec")
    ]
    ti = context["ti"]
    for sensor in flow.trigger_sensors:
        pathspec = ti.xcom_pull(task_ids=sensor, key=XCOM_PATHSPEC_KEY, map_indexes=-1)
        if isinstance(pathspec, str):
            runs.append(pathspec)
    return runs


def event_parameter_values(flow: MetaflowFlow, context: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter values from the payload of the events that started this DAG run."""
    values: dict[str, Any] = {}
    for uri, extra in _latest_event_extras(context, flow.event_parameters).items():
        for parameter, field in flow.event_parameters[uri].items():
            if field in extra:
                values[parameter] = extra[field]
    return values


def announce_run(operator: Any, context: Mapping[str, Any], pathspec: str) -> None:
    """Put the run's pathspec on the flow Assets this task updates (the end step's outlets)."""
    prefix = f"{FLOW_ASSET_SCHEME}://"
    outlets = [asset for asset in getattr(operator, "outlets", ()) if _name(asset).startswith(prefix)]
    if not outlets:
        return
    flow_name, run_id = pathspec.split("/")[:2]
    events = context["outlet_events"]
    for asset in outlets:
        events[asset].extra = {"pathspec": f"{flow_name}/{run_id}", "flow": flow_name, "run_id": run_id}


def _latest_event_extras(context: Mapping[str, Any], uris: Any) -> dict[str, dict[str, Any]]:
    """{asset URI: the extra of its latest triggering event} for the wanted URIs. Airflow keeps
    an Asset's name as given and normalises its URI (a trailing '/'), so names are compared."""
    wanted = set(uris)
    if not wanted:
        return {}
    events = context.get("triggering_asset_events") or {}
    found = {}
    for asset in events:
        name = _name(asset)
        if name in wanted and events[asset]:
            found[name] = dict(events[asset][-1].extra or {})
    return found


def _name(asset: Any) -> str:
    return str(getattr(asset, "name", "") or "")
