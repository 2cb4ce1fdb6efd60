"""MetaflowSplitsOperator: the flat list of index paths a nested foreach's body is mapped over.

A foreach inside another foreach runs once per outer split, each with its own width (ragged
widths are fine). Airflow cannot flatten a mapped task's list of lists, and nested mapped task
groups are fragile, so this small task reads, in one XCom request each, the pathspecs (which
name every instance's index path) and split lists of every instance, and returns
[[outer..., inner], ...]. Each innermost task is then one mapped task instance, so all of them
can run in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from airflow.sdk import BaseOperator


class MetaflowSplitsOperator(BaseOperator):
    """Return the index paths of every split of every instance of a nested foreach step.

    :param foreach: the nested foreach step (in the same MetaflowTaskGroup, if any).
    """

    ui_color = "#e4f1e1"

    def __init__(self, *, foreach: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.foreach = foreach

    def execute(self, context: Any) -> list[list[int]]:
        from airflow_provider_metaflow.execution.upstream import XCOM_PATHSPEC_KEY, XCOM_RETURN_KEY, Upstream
        from airflow_provider_metaflow.runtime.ids import task_index_path_of
        from airflow_provider_metaflow.task_group import step_task_id
        from airflow_provider_metaflow.version_compat import AirflowException, check_map_length

        upstream = Upstream(context["ti"], partial(step_task_id, self))
        pathspecs = upstream.every_instance(self.foreach, XCOM_PATHSPEC_KEY)
        split_lists: Sequence[Any] = upstream.every_instance(self.foreach, XCOM_RETURN_KEY)
        if len(pathspecs) != len(split_lists):
            raise AirflowException(
                f"Foreach {self.foreach!r}: {len(pathspecs)} instances ran but {len(split_lists)} returned "
                "their splits; clear the foreach so every instance runs again."
            )
        paths = sorted(
            [*task_index_path_of(str(pathspec).rsplit("/", 1)[-1]), index]
            for pathspec, splits in zip(pathspecs, split_lists, strict=True)
            for index in range(len(splits))
        )
        check_map_length(self.foreach, len(paths))
        self.log.info("Foreach %s yields %d child steps in all.", self.foreach, len(paths))
        return paths
