"""What upstream Metaflow tasks told this one through XCom.

Every Metaflow task pushes its pathspec under `pathspec` and the steps it chose to run next
under `next_steps`; a foreach returns its split list. A step reads these instead of the
Metaflow datastore, so the Airflow task process never imports Metaflow, and a join reads one
XCom list rather than N task records. Task states are asked first where a parent may have been
skipped, so no read asks for an XCom that was never pushed (Airflow logs those as errors).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airflow_provider_metaflow.runtime.ids import task_index_path_of

XCOM_PATHSPEC_KEY = "pathspec"
XCOM_NEXT_STEPS_KEY = "next_steps"
XCOM_RETURN_KEY = "return_value"


def _same_name(step: str) -> str:
    return step


class Upstream:
    """XCom reads for one task instance, about other steps of the same flow instance, named by
    step. `task_id_of` names a step's task (inside a MetaflowTaskGroup, the group's child id).
    "Aligned" reads take the upstream task instance with this one's map index: both are mapped
    over the same list when they are in the same foreach body (or neither is mapped)."""

    def __init__(self, ti: Any, task_id_of: Callable[[str], str] = _same_name) -> None:
        self._ti = ti
        self._task_id_of = task_id_of
        self._map_index = -1 if ti.map_index is None else int(ti.map_index)

    def succeeded(self, steps: Sequence[str]) -> set[str]:
        """Which of these steps' tasks (at this task's map index) succeeded, in one request."""
        task_ids = {step: self._task_id_of(step) for step in steps}
        states = self._ti.get_task_states(
            dag_id=self._ti.dag_id,
            map_index=self._map_index,
            task_ids=list(task_ids.values()),
            run_ids=[self._ti.run_id],
        )
        by_task = states.get(self._ti.run_id, {})
        suffix = "" if self._map_index < 0 else f"_{self._map_index}"
        return {step for step, task_id in task_ids.items() if str(by_task.get(task_id + suffix)) == "success"}

    def aligned(self, step: str, key: str) -> Any:
        return self._ti.xcom_pull(task_ids=self._task_id_of(step), key=key, map_indexes=self._map_index)

    def every_instance(self, step: str, key: str) -> list[Any]:
        """The values of every instance that pushed one, in map-index order (one request).
        A list of task ids makes Airflow return a list even when there is a single instance."""
        values = self._ti.xcom_pull(task_ids=[self._task_id_of(step)], key=key) or []
        return [value for value in values if value is not None]

    def chose(self, parents: Sequence[str], step: str) -> list[str]:
        """Pathspecs of the parents' tasks (at this map index) that ran and chose `step` next."""
        chosen = []
        for parent in sorted(self.succeeded(parents)):
            if step in (self.aligned(parent, XCOM_NEXT_STEPS_KEY) or ()):
                chosen.append(str(self.aligned(parent, XCOM_PATHSPEC_KEY)))
        return chosen

    def split_count(self, foreach: str) -> int:
        """How many splits the foreach task instance this one belongs to made."""
        if foreach not in self.succeeded([foreach]):
            raise LookupError(f"foreach {foreach!r} did not run at this task's position")
        return len(self.aligned(foreach, XCOM_RETURN_KEY))

    def children_that_ran(self, parents: Sequence[str], index_path: Sequence[int]) -> list[str]:
        """Pathspecs of the parents' task instances one foreach level below `index_path` (a
        foreach join's inputs, when switch branches mean not every parent ran for every split)."""
        prefix = tuple(index_path)
        found: list[tuple[tuple[int, ...], str]] = []
        for parent in parents:
            for pathspec in self.every_instance(parent, XCOM_PATHSPEC_KEY):
                path = task_index_path_of(str(pathspec).rsplit("/", 1)[-1])
                if len(path) == len(prefix) + 1 and path[: len(prefix)] == prefix:
                    found.append((path, str(pathspec)))
        return [pathspec for _path, pathspec in sorted(found)]  # in split order, as Metaflow joins
