"""FlowPlan: a frozen, JSON-serialisable description of a Metaflow flow for Airflow.

The compiler builds a plan from a flow; the renderer turns a plan into DAG source. Neither
step needs a running Airflow, and the two are tested apart. Nothing here imports Metaflow.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_metaflow.pod_plan import PodPlan

PLAN_SCHEMA_VERSION = 4
# Asset URI schemes: `metaflow://[PROJECT/BRANCH/]FLOW` for a flow's successful runs (the end
# step's outlet, read back by the operators), `metaflow-event://NAME` for @trigger events.
FLOW_ASSET_SCHEME = "metaflow"
EVENT_ASSET_SCHEME = "metaflow-event"

# A deployed DAG's tags: every DAG `airflow create` writes has DAG_TAG; the others say which flow
# (and @project branch) it runs, so a deployment can be found again from Airflow's API alone.
DAG_TAG = "metaflow"
DAG_TAG_FIELDS = ("flow", "project", "branch")
_AIRFLOW_TAG_MAX = 100  # Airflow's limit on a tag's length


def deployment_tags(flow_name: str, project: str | None, branch: str | None) -> tuple[str, ...]:
    values = {"flow": flow_name, "project": project, "branch": branch}
    tags = [f"{DAG_TAG}_{name}:{value}" for name, value in values.items() if value]
    return (DAG_TAG, *(tag for tag in tags if len(tag) <= _AIRFLOW_TAG_MAX))


def read_deployment_tags(tags: Sequence[str]) -> dict[str, str]:
    """{"flow": ..., "project": ..., "branch": ...} from a DAG's tags (fields it lacks left out)."""
    found = {}
    for tag in tags:
        name, _, value = tag.partition(":")
        if name.startswith(f"{DAG_TAG}_") and name[len(DAG_TAG) + 1 :] in DAG_TAG_FIELDS and value:
            found[name[len(DAG_TAG) + 1 :]] = value
    return found


@dataclass(frozen=True)
class ParameterPlan:
    """A flow Parameter as an Airflow DAG param (JSON-schema typed).

    json_type is None for a JSONType parameter whose default does not pin a type. A required
    parameter without a default has has_default False, and Airflow's trigger form asks for it.
    is_json marks values Metaflow reads as JSON text (JSONType), so the start task sends
    json.dumps(value) rather than str(value).
    """

    name: str
    json_type: str | None
    default: Any = None
    has_default: bool = True
    description: str | None = None
    is_json: bool = False


@dataclass(frozen=True)
class StepPlan:
    """One Metaflow step, which becomes one Airflow task (mapped inside a foreach)."""

    name: str
    kind: str  # Metaflow's graph node type: start, linear, split, join, foreach, end
    parents: tuple[str, ...] = ()
    # The foreach step whose split list this step is mapped over (None outside a foreach body).
    foreach: str | None = None
    # For the join that closes a foreach: that foreach step. Its parents ran once per split.
    join_of: str | None = None
    retries: int = 0  # Airflow retries: @retry's times plus error_retries
    retry_delay_seconds: int = 0
    timeout_seconds: int | None = None
    error_retries: int = 0  # 1 with @catch: the last try of a cycle runs Metaflow's fallback
    environment: dict[str, str] = field(default_factory=dict)  # @environment vars
    resources: dict[str, Any] = field(default_factory=dict)  # @resources, for compute backends
    # Downstream of a switch: the step runs only if a parent ran and chose it, else it skips.
    conditional: bool = False
    # A switch that can choose itself: one Airflow task runs every iteration.
    recursive: bool = False
    # Decorators attached at `create` with --with or METAFLOW_DECOSPECS (not in the flow's code),
    # as Metaflow decospecs: every process of this step gets them too.
    decospecs: tuple[str, ...] = ()
    # Where the step runs: an execution backend of backends.registry ("local", "kubernetes"),
    # and its settings (JSON data) for a backend without an operator of its own.
    backend: str = "local"
    backend_options: dict[str, Any] = field(default_factory=dict)
    # With @kubernetes: the step runs as this pod.
    pod: PodPlan | None = None

    @property
    def has_splits_task(self) -> bool:
        """A nested foreach: a splits task after it flattens its splits (see splits_task_id)."""
        return self.kind == "foreach" and self.foreach is not None


@dataclass(frozen=True)
class UpstreamFlow:
    """A flow whose successful runs start this one (@trigger_on_finish)."""

    flow: str
    project: str | None
    branch: str | None
    asset_uri: str
    # Deployed by this provider, so its DAG updates its Asset; otherwise a sensor waits for it.
    deployed_here: bool

    @property
    def sensor_task_id(self) -> str:
        """The task that waits for this flow when it is deployed elsewhere."""
        return f"wait_for_{self.flow}"


# The task ids a DAG has besides one per step, defined here once: the renderer writes them and
# the compiler refuses a step that would take one (compiler.task_ids).
EXIT_HOOK_TASK_ID = "metaflow_exit_hook"  # the @exit_hook teardown


def splits_task_id(foreach: str) -> str:
    """The task after nested foreach step `foreach` that flattens its splits into index paths."""
    return f"{foreach}__splits"


@dataclass(frozen=True)
class EventTrigger:
    """A named event that starts this flow (@trigger), and its payload -> Parameter mapping."""

    name: str
    asset_uri: str
    parameters: tuple[tuple[str, str], ...] = ()  # (Parameter, payload field)


@dataclass(frozen=True)
class CodePackage:
    """The flow's code package in the datastore, made with Metaflow's own packaging at `create`:
    where pods download it from, and the hash they check."""

    url: str
    sha: str
    metadata: str  # Metaflow's package metadata (archive format, content version), as JSON text


@dataclass(frozen=True)
class FlowPlan:
    """Everything a DAG file needs to know about a flow, and nothing that is a secret."""

    flow_name: str
    flow_file: str  # absolute path at compile time; rendered relative to the DAG file
    dag_id: str
    steps: tuple[StepPlan, ...]  # topological order, start first
    parameters: tuple[ParameterPlan, ...] = ()
    schedule: str | None = None  # five-field cron, Airflow's reading
    schedule_timezone: str | None = None  # IANA name; None means UTC
    description: str | None = None
    tags: tuple[str, ...] = ()
    dag_tags: tuple[str, ...] = (DAG_TAG,)
    namespace: str | None = None
    max_active_tasks: int | None = None
    dagrun_timeout_seconds: int | None = None
    pool: str | None = None
    is_paused_upon_creation: bool | None = None
    # Config values resolved at `create`, as JSON text, passed to every Metaflow command.
    configs: tuple[tuple[str, str], ...] = ()
    user: str | None = None  # the deployer; steps run as this Metaflow user, as on other schedulers
    production_token: str | None = None  # names the deployment's namespace, production:TOKEN
    top_level_options: tuple[str, ...] = ()  # @project's --branch / --production
    # @exit_hook functions (names or import paths), called after the run succeeds / fails.
    exit_hooks_on_success: tuple[str, ...] = ()
    exit_hooks_on_error: tuple[str, ...] = ()
    code_package: CodePackage | None = None  # only when some step runs as a pod
    metaflow_conn_id: str | None = None  # a `metaflow` connection every step's config comes from
    deferrable_pods: bool = False  # pod steps wait in the triggerer, freeing worker slots
    asset_uri: str | None = None  # the Asset this flow's successful runs update
    upstream_flows: tuple[UpstreamFlow, ...] = ()
    event_triggers: tuple[EventTrigger, ...] = ()
    schema_version: int = field(default=PLAN_SCHEMA_VERSION)

    def step(self, name: str) -> StepPlan:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FlowPlan:
        data: dict[str, Any] = json.loads(text)
        version = data.get("schema_version")
        if version != PLAN_SCHEMA_VERSION:
            raise ValueError(
                f"FlowPlan schema version {version!r} is not supported (this provider reads "
                f"version {PLAN_SCHEMA_VERSION}); regenerate the plan with `airflow create`."
            )
        steps = tuple(_step_from_dict(step) for step in data.pop("steps"))
        parameters = tuple(ParameterPlan(**p) for p in data.pop("parameters"))
        configs = tuple((name, value) for name, value in data.pop("configs"))
        package = data.pop("code_package")
        upstream = tuple(UpstreamFlow(**item) for item in data.pop("upstream_flows"))
        events = tuple(
            EventTrigger(item["name"], item["asset_uri"], tuple(tuple(pair) for pair in item["parameters"]))
            for item in data.pop("event_triggers")
        )
        return cls(
            steps=steps,
            upstream_flows=upstream,
            event_triggers=events,
            code_package=CodePackage(**package) if package is not None else None,
            parameters=parameters,
            tags=tuple(data.pop("tags")),
            dag_tags=tuple(data.pop("dag_tags")),
            configs=configs,
            top_level_options=tuple(data.pop("top_level_options")),
            exit_hooks_on_success=tuple(data.pop("exit_hooks_on_success")),
            exit_hooks_on_error=tuple(data.pop("exit_hooks_on_error")),
            **data,
        )


def _step_from_dict(data: dict[str, Any]) -> StepPlan:
    pod = data.get("pod")
    return StepPlan(
        **{
            **data,
            "parents": tuple(data["parents"]),
            "decospecs": tuple(data["decospecs"]),
            "pod": PodPlan.from_dict(pod) if pod is not None else None,
        }
    )
