"""The wiring of a flow instance's step tasks, as the DAG writes it, for the start task to send.

The start task's process checks it against the flow's graph (the extension's `wiring` module)
before any user code runs, so a hand-written DAG that wires a step differently fails naming the
step instead of giving a wrong run. Only Airflow's task objects are read here: step tasks are
found by their arguments (`flow`, `step`), as the engine knows operators, and mapped tasks by
their partial and expand arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_metaflow.task_group import flow_group_of, step_task_id
from metaflow_extensions.airflow_provider_metaflow.plugins.wiring import DagWiring, TaskWiring

_MISSING = object()


def dag_wiring(operator: Any) -> DagWiring:
    """Every step task of `operator`'s flow instance (the same flow, the same flow group) in its DAG."""
    dag = operator.get_dag()
    flow, group = operator.flow.name, flow_group_of(operator)
    tasks = dag.task_dict
    mine = [
        task
        for task in tasks.values()
        if _is_step_task(task) and _argument(task, "flow").name == flow and flow_group_of(task) == group
    ]
    ancestors = _Ancestors(tasks)
    return DagWiring(
        dag_id=str(dag.dag_id),
        flow=flow,
        tasks=[_task_wiring(task, ancestors) for task in mine],
        splits_tasks={
            task_id: str(task.foreach)
            for task_id, task in tasks.items()
            if not _is_step_task(task) and isinstance(getattr(task, "foreach", None), str)
        },
    )


def _task_wiring(task: Any, ancestors: _Ancestors) -> TaskWiring:
    step = str(_argument(task, "step"))
    mapped_over, mapped_from = _mapping(task)
    return TaskWiring(
        task_id=task.task_id,
        step=step,
        step_task_id=step_task_id(task, step),
        inputs=[str(name) for name in _argument(task, "inputs", ())],
        foreach=_argument(task, "foreach", None),
        join_of=_argument(task, "join_of", None),
        conditional=bool(_argument(task, "conditional", False)),
        upstream=sorted(ancestors.of(task.task_id)),
        mapped_over=mapped_over,
        mapped_from=mapped_from,
    )


def _is_mapped(task: Any) -> bool:
    """A `.partial().expand()` task: Airflow's MappedOperator keeps the arguments apart."""
    return isinstance(getattr(task, "partial_kwargs", None), Mapping) and hasattr(task, "expand_input")


def _argument(task: Any, name: str, default: Any = _MISSING) -> Any:
    """A step operator's argument; a mapped task's from its partial arguments."""
    if _is_mapped(task):
        value = task.partial_kwargs.get(name, default)
    else:
        value = getattr(task, name, default)
    if value is _MISSING:
        raise AttributeError(name)
    return value


def _is_step_task(task: Any) -> bool:
    flow = _argument(task, "flow", None)
    return isinstance(_argument(task, "step", None), str) and isinstance(getattr(flow, "name", None), str)


def _mapping(task: Any) -> tuple[str | None, str | None]:
    """(the .expand() argument, the task whose output it maps over) of a mapped task."""
    if not _is_mapped(task):
        return None, None
    value = getattr(task.expand_input, "value", None)
    if not isinstance(value, Mapping):  # .expand_kwargs(...): one list of argument sets
        return "expand_kwargs", None
    name = next((key for key in ("split_index", "index_path") if key in value), None) or ", ".join(value)
    source = getattr(getattr(value.get(name), "operator", None), "task_id", None)
    return name, source


class _Ancestors:
    """The tasks that run before a task, directly or through others (memoised)."""

    def __init__(self, tasks: Mapping[str, Any]) -> None:
        self._tasks = tasks
        self._found: dict[str, frozenset[str]] = {}

    def of(self, task_id: str) -> frozenset[str]:
        pending = [task_id]
        while pending:
            current = pending[-1]
            upstream = self._tasks[current].upstream_task_ids
            todo = [parent for parent in upstream if parent not in self._found]
            if todo:
                pending += todo
                continue
            pending.pop()
            self._found[current] = frozenset(upstream).union(*(self._found[p] for p in upstream))
        return self._found[task_id]
