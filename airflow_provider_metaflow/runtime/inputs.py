"""Which Metaflow tasks feed a task, computed from the graph and deterministic ids alone.

Steps downstream of a switch cannot know statically which parents ran; the operator finds
those through XCom and passes their pathspecs here instead (see execution.upstream).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from airflow_provider_metaflow.runtime.ids import parameters_pathspec, task_pathspec


@dataclass(frozen=True)
class StepInputs:
    """A step's place in the graph, as the operator receives it from the DAG file.

    parents: the steps that lead here (none for start, whose input is the Parameters task).
    foreach: the foreach step whose split list this step is mapped over.
    join_of: for the join that closes a foreach, that foreach step: every parent ran once
        per split, and this task takes them all.
    """

    parents: Sequence[str] = ()
    foreach: str | None = None
    join_of: str | None = None


def split_index_for(inputs: StepInputs, index_path: Sequence[int]) -> int | None:
    """Metaflow's --split-index: only for the first step of a foreach body."""
    if inputs.foreach is not None and inputs.foreach in inputs.parents:
        return index_path[-1]
    return None


def parent_index_path(inputs: StepInputs, parent: str, index_path: Sequence[int]) -> tuple[int, ...]:
    """Where a (non-join) parent task sits: the foreach that opens this body is one level up."""
    return tuple(index_path[:-1]) if parent == inputs.foreach else tuple(index_path)


def input_paths(run_id: str, inputs: StepInputs, index_path: Sequence[int], join_width: int = 0) -> list[str]:
    """Input paths when every parent ran: the Parameters task for start, each parent's task at
    its index path, or, for a foreach join, every split of every parent (`join_width` splits)."""
    if not inputs.parents:
        return [parameters_pathspec(run_id)]
    if inputs.join_of is not None:
        return [
            task_pathspec(run_id, parent, (*index_path, split))
            for parent in inputs.parents
            for split in range(join_width)
        ]
    return [
        task_pathspec(run_id, parent, parent_index_path(inputs, parent, index_path))
        for parent in inputs.parents
    ]


def run_relative(pathspec: str) -> str:
    """An input path from a task pathspec: 'Flow/run/step/task' -> 'run/step/task'."""
    return pathspec.split("/", 1)[1] if pathspec.count("/") == 3 else pathspec
