"""The parts of a DAG file that come from @trigger_on_finish, @trigger and the flow's own Asset
(see compiler.events): the schedule, the sensors in front of the start step, the flow's
trigger sources, and the end step's outlet."""

from __future__ import annotations

from airflow_provider_metaflow.plan import FlowPlan


def uses_assets(plan: FlowPlan) -> bool:
    return plan.asset_uri is not None or bool(_scheduling_assets(plan))


def uses_sensors(plan: FlowPlan) -> bool:
    return any(not upstream.deployed_here for upstream in plan.upstream_flows)


def uses_literals(plan: FlowPlan) -> bool:
    """Whether a sensor takes a value through `airflow.sdk.literal` (see `sensor_tasks`)."""
    return any(
        not upstream.deployed_here and upstream.project is not None for upstream in plan.upstream_flows
    )


def schedule(plan: FlowPlan) -> str | None:
    """`schedule=` when Assets start the DAG: every one of them updated (Metaflow's rule)."""
    assets = _scheduling_assets(plan)
    if not assets:
        return None
    return "[" + ", ".join(f"Asset({uri!r})" for uri in assets) + "]"


def flow_arguments(plan: FlowPlan) -> list[str]:
    """MetaflowFlow arguments telling each step where this run's triggers come from."""
    args = []
    deployed = [upstream.asset_uri for upstream in plan.upstream_flows if upstream.deployed_here]
    if deployed:
        args.append(f"trigger_assets={deployed!r}")
    sensors = [upstream.sensor_task_id for upstream in plan.upstream_flows if not upstream.deployed_here]
    if sensors:
        args.append(f"trigger_sensors={sensors!r}")
    mapped = {event.asset_uri: dict(event.parameters) for event in plan.event_triggers if event.parameters}
    if mapped:
        args.append(f"event_parameters={mapped!r}")
    return args


def end_outlets(plan: FlowPlan) -> list[str]:
    return [f"outlets=[Asset({plan.asset_uri!r})]"] if plan.asset_uri is not None else []


def sensor_tasks(plan: FlowPlan, names: dict[str, str]) -> list[str]:
    """A MetaflowFlowSensor in front of the start step for each upstream flow deployed elsewhere:
    it waits for that flow's next successful run (one that finishes after this DAG run starts).

    The sensor templates its filters, but the project and branch come from @trigger_on_finish,
    where Metaflow takes any text (a user branch is `user.<any user name>`): `literal()` passes
    them to the sensor as written. The flow name needs none: Metaflow allows only [A-Za-z0-9_].
    """
    lines = []
    for upstream in plan.upstream_flows:
        if upstream.deployed_here:
            continue
        args = [f"task_id={upstream.sensor_task_id!r}", f"flow_name={upstream.flow!r}"]
        if upstream.project is not None:
            args += [
                f"project=literal({upstream.project!r})",
                f"project_branch=literal({upstream.branch!r})",
            ]
        if plan.metaflow_conn_id is not None:
            args.append(f"metaflow_conn_id={plan.metaflow_conn_id!r}")
        args += ["finished_after=datetime.timedelta(0)", "mode='reschedule'", "poke_interval=60"]
        joined = "".join(f"        {arg},\n" for arg in args)
        variable, start = names[upstream.sensor_task_id], names[plan.steps[0].name]
        lines += [f"    {variable} = MetaflowFlowSensor(\n{joined}    )", f"    {variable} >> {start}"]
    return lines


def _scheduling_assets(plan: FlowPlan) -> list[str]:
    return [upstream.asset_uri for upstream in plan.upstream_flows if upstream.deployed_here] + [
        event.asset_uri for event in plan.event_triggers
    ]
