"""MetaflowTaskGroup: a flow's steps as one TaskGroup inside a DAG someone else wrote.

Each group is one instance of its flow: every DAG run gives each group its own Metaflow run (the
run id includes the group id), and a step finds its parents' tasks inside its own group. So one
DAG can hold several flows, or the same flow twice, next to native tasks. `airflow create
--task-group` writes a module whose factory builds one; a hand-written DAG may also open one
itself around the step operators of a flow.

Imported by every DAG file that uses a group, on every parse: it imports only airflow.sdk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import TaskGroup

from airflow_provider_metaflow.flow import MetaflowFlow


class MetaflowTaskGroup(TaskGroup):
    """A TaskGroup holding the steps of one instance of `flow`.

    :param group_id: the group's id; task ids inside are ``<group_id>.<step>``.
    :param flow: the flow whose steps the group holds.
    :param parameters: Parameter values for the flow's runs (templates and XComArgs welcome),
        given to the start step (see ``MetaflowStepBase``'s ``parameters``).
    :param xcom_artifacts: artifacts to push to XCom: a list for the end step, or
        ``{step: [artifact, ...]}``; each pushed under its own key.
    :param end_step: the flow's end step, whose artifacts ``artifact()`` reads by default.
    :param kwargs: anything TaskGroup takes (tooltip, default_args, ...).
    """

    def __init__(
        self,
        group_id: str,
        *,
        flow: MetaflowFlow,
        parameters: Mapping[str, Any] | None = None,
        xcom_artifacts: Sequence[str] | Mapping[str, Sequence[str]] = (),
        end_step: str = "end",
        **kwargs: Any,
    ) -> None:
        super().__init__(group_id=group_id, **kwargs)
        self.flow = flow
        self.end_step = end_step
        self.parameters = dict(parameters or {})
        by_step = xcom_artifacts if isinstance(xcom_artifacts, Mapping) else {end_step: xcom_artifacts}
        if any(isinstance(names, str) for names in [xcom_artifacts, *by_step.values()]):
            raise ValueError(
                f"MetaflowTaskGroup {group_id!r}: xcom_artifacts takes a list of artifact names (or "
                "{step: [names]}), not one string: write xcom_artifacts=['name']."
            )
        self.xcom_artifacts = {str(step): tuple(names) for step, names in by_step.items() if names}
        declared = flow.parameters
        unknown = sorted(set(self.parameters) - set(declared)) if declared is not None else []
        if declared is not None and unknown:
            raise ValueError(
                f"MetaflowTaskGroup {group_id!r}: {', '.join(map(repr, unknown))} "
                f"{'is not a Parameter' if len(unknown) == 1 else 'are not Parameters'} of flow "
                f"{flow.name} (its Parameters: {', '.join(declared) or 'none'}). Remove "
                f"{'it' if len(unknown) == 1 else 'them'} from parameters=."
            )

    def __exit__(self, _type: Any, _value: Any, _tb: Any) -> None:
        super().__exit__(_type, _value, _tb)
        if _type is None:
            steps = {getattr(child, "step", None) for child in self.children.values()}
            missing = sorted(step for step in self.xcom_artifacts if step not in steps)
            if missing:
                which = "is not a step" if len(missing) == 1 else "are not steps"
                raise ValueError(
                    f"MetaflowTaskGroup {self.group_id!r}: xcom_artifacts names "
                    f"{', '.join(map(repr, missing))}, which {which} of flow {self.flow.name} in this "
                    f"group. Name the flow's steps, or give a list for the end step ({self.end_step!r})."
                )

    def step_task(self, step: str) -> Any:
        """The task (or mapped task) of `step` in this group."""
        task_id = self.child_id(step)
        for child in self.children.values():
            if getattr(child, "task_id", None) == task_id:
                return child
        raise KeyError(f"MetaflowTaskGroup {self.group_id!r} has no task for step {step!r}")

    def artifact(self, name: str, step: str | None = None) -> Any:
        """An XComArg for artifact `name` of `step` (the end step by default), which that step
        pushes when `xcom_artifacts` lists it."""
        return self.step_task(step or self.end_step).output[name]


def flow_group_of(task: Any) -> MetaflowTaskGroup | None:
    """The MetaflowTaskGroup a task belongs to (the nearest, through plain TaskGroups in between),
    or None for a step of a flow laid out in the DAG itself."""
    group = getattr(task, "task_group", None)
    while group is not None:
        if isinstance(group, MetaflowTaskGroup):
            return group
        group = group.parent_group
    return None


def flow_group_id(task: Any) -> str | None:
    """The group id that tells one flow instance of a DAG from another (None outside a group)."""
    group = flow_group_of(task)
    return group.group_id if group is not None else None


def step_task_id(task: Any, step: str) -> str:
    """The task id of `step` in the same flow instance as `task`: a step's task is named after
    the step, inside the task's MetaflowTaskGroup if it has one."""
    group = flow_group_of(task)
    return group.child_id(step) if group is not None else step
