"""The flow sensor's adapter to Metaflow's client: every private or undocumented Metaflow name that
the run query (`sensors.run_query`) relies on, behind small functions.

The query needs more than the client documents: opening a run or one attempt of a task in any
namespace (the private `_namespace_check=False`), the decorators each step ran with (the
`_graph_info` artifact of the run's `_parameters` task), how an attempt ended (its `_task_ok`
artifact) and Metaflow's cap on attempts (`metaflow_config.MAX_ATTEMPTS`). Keeping them here means
a Metaflow upgrade touches the adapters only: this one for the sensor, and the Metaflow
extension's `metaflow_adapter` for everything that runs inside Metaflow processes.

Only the sensor's child process imports this module, and Metaflow is imported inside each function:
the child redirects its stdout (which carries the answer) before Metaflow's import may print.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metaflow import Flow, Run, Task

# Metaflow records a run's Parameters, and the graph it ran with, in this step's single task.
PARAMETERS_STEP = "_parameters"
# @retry's default `times` (metaflow/plugins/retry_decorator.py).
DEFAULT_RETRY_TIMES = 3


@dataclass(frozen=True)
class AttemptEnd:
    """How one finished attempt of a task ended: ``ok`` is False when it failed (Metaflow's
    ``_task_ok``), ``at`` is when it ended (Metaflow's naive local time)."""

    ok: bool
    at: datetime


def read_all_namespaces() -> None:
    """Make the client read every namespace: the query applies its own namespace filter."""
    from metaflow import namespace

    namespace(None)


def find_flow(name: str) -> Flow | None:
    """The flow of that name, or None when the metadata has no run of it."""
    from metaflow import Flow
    from metaflow.exception import MetaflowNotFound

    try:
        return Flow(name)
    except MetaflowNotFound:
        return None


def find_run(pathspec: str) -> Run | None:
    """The run (``Flow/RunId``) whatever the client's namespace, or None when it does not exist."""
    from metaflow import Run
    from metaflow.exception import MetaflowNotFound

    try:
        return Run(pathspec, _namespace_check=False)
    except MetaflowNotFound:
        return None


def attempt_end(task: Task, attempt: int) -> AttemptEnd | None:
    """How that attempt of the task ended, or None while it has not ended.

    The client's `Task` shows the latest attempt that ended; this reads the given one.
    """
    from metaflow import Task

    one_attempt = Task(task.pathspec, attempt=attempt, _namespace_check=False)
    if "_task_ok" not in one_attempt:
        return None
    task_ok = one_attempt["_task_ok"]
    return AttemptEnd(bool(task_ok.data), task_ok.created_at)


def max_attempts() -> int:
    """Metaflow's cap on attempts per task, whatever @retry and @catch ask for."""
    from metaflow.metaflow_config import MAX_ATTEMPTS

    return int(MAX_ATTEMPTS)


def allowed_attempts(run: Run) -> dict[str, int]:
    """Attempts each step of the run may make, from the decorators recorded in its graph: one,
    plus @retry's times, plus one for @catch's fallback, at most `max_attempts()`.

    Empty when the run recorded no graph (each step then gets one attempt).
    """
    graph = _recorded_graph(run)
    cap = max_attempts()
    allowed = {}
    for name, step in (graph.get("steps") or {}).items():
        decorators = {deco["name"]: deco.get("attributes") or {} for deco in step.get("decorators", [])}
        retries = int(decorators["retry"].get("times", DEFAULT_RETRY_TIMES)) if "retry" in decorators else 0
        fallback = 1 if "catch" in decorators else 0
        allowed[name] = min(cap, 1 + retries + fallback)
    return allowed


def _recorded_graph(run: Run) -> dict[str, Any]:
    """The `_graph_info` artifact Metaflow writes with the run's Parameters, or {} without one."""
    from metaflow.exception import MetaflowNotFound

    try:
        task = run[PARAMETERS_STEP].task
        graph = task["_graph_info"].data if task is not None else None
    except (KeyError, MetaflowNotFound):
        return {}
    return graph if isinstance(graph, dict) else {}
