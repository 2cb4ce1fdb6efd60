"""Which Metaflow tasks feed a task, computed from the graph and deterministic ids alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from airflow_provider_metaflow.runtime.ids import (
    compress_input_paths,
    parameters_pathspec,
    task_pathspec,
)


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


def input_paths(
    run_id: str,
    inputs: StepInputs,
    index_path: Sequence[int],
    num_splits: Callable[[str, Sequence[int]], int],
) -> str:
    """Compressed --input-paths. `num_splits(foreach_step, its_index_path)` is asked only by
    a foreach join, once, instead of pulling one XCom per split."""
    if not inputs.parents:
        return parameters_pathspec(run_id)
    paths: list[str] = []
    if inputs.join_of is not None:
        width = num_splits(inputs.join_of, index_path)
        for parent in inputs.parents:
            paths += [task_pathspec(run_id, parent, (*index_path, i)) for i in range(width)]
        return compress_input_paths(paths)
    for parent in inputs.parents:
        paths.append(task_pathspec(run_id, parent, parent_index_path(inputs, parent, index_path)))
    return compress_input_paths(paths)
