"""A Metaflow flow (FlowSpec + FlowGraph) -> FlowPlan, with every problem collected."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_metaflow.compiler.compute import ComputePlanner
from airflow_provider_metaflow.compiler.errors import FlowCompileError, Problem
from airflow_provider_metaflow.compiler.events import event_triggers, flow_asset_uri, upstream_flows
from airflow_provider_metaflow.compiler.metaflow_view import MetaflowView
from airflow_provider_metaflow.compiler.parameters import config_values, parameter_plans
from airflow_provider_metaflow.compiler.schedule import Schedule, schedule_from_attributes
from airflow_provider_metaflow.compiler.steps import step_settings
from airflow_provider_metaflow.compiler.task_ids import task_id_problems
from airflow_provider_metaflow.plan import EventTrigger, FlowPlan, StepPlan, UpstreamFlow, deployment_tags
from metaflow_extensions.airflow_provider_metaflow.plugins.wiring import (
    StepWiring,
    expected_wiring,
    graph_nodes,
)

SUPPORTED_FLOW_DECORATORS = frozenset({"schedule", "project", "exit_hook", "trigger", "trigger_on_finish"})


def _nothing_deployed(dag_id: str) -> bool:
    return False


@dataclass(frozen=True)
class DeployOptions:
    """The options of `airflow create`, with Metaflow's own meaning."""

    dag_id: str
    tags: Sequence[str] = ()
    namespace: str | None = None
    max_workers: int | None = None
    workflow_timeout: int | None = None
    worker_pool: str | None = None
    is_paused_upon_creation: bool | None = None
    user: str | None = None  # who deployed: steps run as this Metaflow user
    top_level_options: tuple[str, ...] = ()  # @project's --branch / --production
    metaflow_conn_id: str | None = None
    deferrable_pods: bool = False
    # `--task-group`: a module for DAGs written by hand, which decide when the flow runs.
    task_group: bool = False
    # Whether this provider deployed a DAG of that id (its flow then updates an Asset).
    deployed: Callable[[str], bool] = _nothing_deployed


def build_plan(
    flow: Any, graph: Any, flow_file: str, options: DeployOptions, metaflow: MetaflowView
) -> FlowPlan:
    """Describe `flow` for Airflow, or raise FlowCompileError listing all problems. `metaflow`
    answers what the graph does not tell (the extension's deploy adapter)."""
    problems = _option_problems(options)
    computes = ComputePlanner(graph.name, metaflow)
    # The wiring rule the start task checks hand-written DAGs against, too.
    wiring = expected_wiring(graph_nodes(graph))
    steps = [_step_plan(graph[name], wiring[name], problems, computes) for name in _topological(graph)]
    flow_decorators = list(metaflow.flow_decorators(flow))
    schedule, schedule_problems = _schedule(flow_decorators)
    problems += schedule_problems
    if options.task_group:
        problems += _task_group_problems(flow_decorators)
        schedule = None  # the DAG around the group decides when it runs
    parameters, parameter_problems = parameter_plans(flow, metaflow, has_schedule=schedule is not None)
    problems += parameter_problems
    problems += _flow_decorator_problems(flow_decorators)
    project, branch = metaflow.project_identity()
    upstream, events = _triggers(flow_decorators, metaflow, project, branch, options, problems)
    if (upstream or events) and schedule is not None:
        problems.append(
            Problem(
                "@schedule",
                "is on a flow that also has @trigger or @trigger_on_finish: its Airflow DAG runs either on a "
                "schedule or when an Asset is updated.",
                "Keep one of them; to run on both, deploy the flow twice with `airflow --name ... create`.",
            )
        )
    on_success, on_error = (
        _exit_hooks(flow_decorators, "on_success"),
        _exit_hooks(flow_decorators, "on_error"),
    )
    problems += task_id_problems(steps, upstream, has_exit_hook=bool(on_success or on_error))
    if problems:
        # A pod step's @timeout is read for the task and for the pod: report its problem once.
        raise FlowCompileError(graph.name, list(dict.fromkeys(problems)))
    return FlowPlan(
        flow_name=graph.name,
        flow_file=flow_file,
        dag_id=options.dag_id,
        steps=tuple(steps),
        parameters=tuple(parameters),
        schedule=schedule.cron if schedule else None,
        schedule_timezone=schedule.timezone if schedule else None,
        description=graph.doc or None,
        tags=tuple(options.tags),
        dag_tags=deployment_tags(graph.name, project, branch),
        namespace=options.namespace,
        max_active_tasks=options.max_workers,
        dagrun_timeout_seconds=options.workflow_timeout,
        pool=options.worker_pool,
        is_paused_upon_creation=options.is_paused_upon_creation,
        configs=tuple(config_values(flow, metaflow)),
        user=options.user,
        top_level_options=options.top_level_options,
        exit_hooks_on_success=on_success,
        exit_hooks_on_error=on_error,
        metaflow_conn_id=options.metaflow_conn_id,
        deferrable_pods=options.deferrable_pods,
        asset_uri=flow_asset_uri(graph.name, project, branch),
        upstream_flows=tuple(upstream),
        event_triggers=tuple(events),
    )


def _task_group_problems(flow_decorators: list[Any]) -> list[Problem]:
    """A group runs when the DAG around it runs: a flow that must be started by an event or by
    another flow's run (and may read `current.trigger`) cannot be one."""
    return [
        Problem(
            f"flow decorator @{deco.name}",
            "starts the flow's own DAG when an event arrives or another flow finishes, but a TaskGroup "
            "runs when the DAG around it runs, so the flow would never see its trigger.",
            "Deploy the flow as a DAG of its own (without --task-group), or remove the decorator.",
        )
        for deco in flow_decorators
        if deco.name in ("trigger", "trigger_on_finish")
    ]


def _option_problems(options: DeployOptions) -> list[Problem]:
    """--max-workers and --workflow-timeout below 1 would make a DAG that never runs a task, or
    whose every run times out."""
    problems = []
    if options.max_workers is not None and options.max_workers < 1:
        problems.append(
            Problem(
                "option --max-workers",
                f"is {options.max_workers}, but it is how many tasks of a run may run at once (the DAG's "
                "max_active_tasks): below 1, Airflow would never start one.",
                "Pass --max-workers 1 or more, or leave it out for 100.",
            )
        )
    if options.workflow_timeout is not None and options.workflow_timeout < 1:
        problems.append(
            Problem(
                "option --workflow-timeout",
                f"is {options.workflow_timeout}, but it is how many seconds a run may take (the DAG's "
                "dagrun_timeout): below 1, every run would time out.",
                "Pass --workflow-timeout 1 or more, or leave it out for no timeout.",
            )
        )
    return problems


def _triggers(
    flow_decorators: list[Any],
    metaflow: MetaflowView,
    project: str | None,
    branch: str | None,
    options: DeployOptions,
    problems: list[Problem],
) -> tuple[list[UpstreamFlow], list[EventTrigger]]:
    """@trigger_on_finish and @trigger, as Assets and sensors (see compiler.events); `project`
    and `branch` are this flow's own, which an upstream flow named without them shares."""
    upstream: list[UpstreamFlow] = []
    events: list[EventTrigger] = []
    for deco in flow_decorators:
        if deco.name == "trigger_on_finish":
            specs = metaflow.trigger_specs(deco)
            upstream += upstream_flows(specs, project, branch, options.deployed, problems)
        elif deco.name == "trigger":
            events += event_triggers(metaflow.trigger_specs(deco), problems)
    return upstream, events


def _topological(graph: Any) -> list[str]:
    """Steps in an order where every parent comes before its children (start first)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for parent in sorted(set(graph[name].in_funcs) - {name}):  # a recursive step is its own parent
            visit(parent)
        order.append(name)

    for name in graph.sorted_nodes:
        visit(name)
    return order


def _step_plan(node: Any, wiring: StepWiring, problems: list[Problem], computes: ComputePlanner) -> StepPlan:
    where = f"step {node.name!r}"
    if node.type == "foreach" and getattr(node, "parallel_foreach", False):
        problems.append(
            Problem(
                where,
                "uses num_parallel (@parallel), which needs gang-scheduled workers Airflow does not provide.",
                "Use a plain foreach, or run this step on a Metaflow compute backend.",
            )
        )
    settings = step_settings(node, problems)
    compute = computes.plan(node, wiring.recursive, problems)
    return StepPlan(
        name=node.name,
        kind=node.type,
        parents=wiring.parents,
        recursive=wiring.recursive,
        foreach=wiring.foreach,
        join_of=wiring.join_of,
        conditional=wiring.conditional,
        retries=settings.retries + settings.error_retries,
        retry_delay_seconds=settings.retry_delay_seconds,
        timeout_seconds=settings.timeout_seconds,
        error_retries=settings.error_retries,
        environment=settings.environment,
        resources=settings.resources,
        decospecs=_attached_decospecs(node),
        backend=compute.backend,
        backend_options=compute.options,
        pod=compute.pod,
    )


def _attached_decospecs(node: Any) -> tuple[str, ...]:
    """Decorators given at `create` by --with or METAFLOW_DECOSPECS rather than in the code, as
    Metaflow's other schedulers pass them on to every step process."""
    return tuple(
        deco.make_decorator_spec()
        for deco in node.decorators
        if not deco.statically_defined and getattr(deco, "inserted_by", None) is None
    )


def _schedule(flow_decorators: list[Any]) -> tuple[Schedule | None, list[Problem]]:
    for deco in flow_decorators:
        if deco.name == "schedule":
            return schedule_from_attributes(deco.attributes)
    return None, []


def _exit_hooks(flow_decorators: list[Any], kind: str) -> tuple[str, ...]:
    """@exit_hook functions of one kind, by name (or import path), as Metaflow's runtime calls them."""
    return tuple(
        hook if isinstance(hook, str) else hook.__name__
        for deco in flow_decorators
        if deco.name == "exit_hook"
        for hook in deco.attributes.get(kind) or ()
    )


def _flow_decorator_problems(flow_decorators: list[Any]) -> list[Problem]:
    return [
        Problem(
            f"flow decorator @{deco.name}",
            "is not supported on Airflow yet.",
            "Remove it from the flow to deploy on Airflow, or deploy with another scheduler.",
        )
        for deco in flow_decorators
        if deco.name not in SUPPORTED_FLOW_DECORATORS
    ]
